/* The baseline for ringbuf_drain.lua: libbpf's own consumer (ring_buffer__consume) with a C
 * callback that reads one field of each event, as a C tool would drain a ring. The benchmark
 * compiles this into a shared object and calls it through the FFI, on the same ring. */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <time.h>

struct event {
	uint64_t seq;
	uint64_t a, b;
};

static uint64_t checksum;

static int on_event(void *ctx, void *data, size_t size)
{
	checksum += ((const struct event *)data)->seq;
	return 0;
}

static struct ring_buffer *rb;

/* Sets up libbpf's consumer on the ring behind map_fd once, so that its mappings are warm
 * for every timed drain, as bpflua's are. */
int bench_libbpf_open(int map_fd)
{
	rb = ring_buffer__new(map_fd, on_event, NULL, NULL);
	return rb ? 0 : -1;
}

/* Drains the ring; returns the records consumed (or a negative error) and sets the
 * nanoseconds the drain took and the sum of the seq fields it read. */
long bench_libbpf_drain(double *elapsed_ns, uint64_t *sum)
{
	struct timespec start, end;
	checksum = 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	long n = ring_buffer__consume(rb);
	clock_gettime(CLOCK_MONOTONIC, &end);
	*elapsed_ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
	*sum = checksum;
	return n;
}
