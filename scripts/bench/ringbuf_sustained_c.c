/* The baseline for ringbuf_sustained.lua: libbpf's own consumer (ring_buffer__poll) with a C
 * callback, keeping up with a producer in another process as a C tool would. The benchmark
 * compiles this into a shared object and calls it through the FFI, on the same ring. */
#include <bpf/libbpf.h>
#include <stdint.h>
#include <time.h>

struct event {
	char filename[16];
	int dfd, flags, mode;
	uint64_t seq;
};

static long delivered, out_of_order;
static int64_t last_seq = -1;

static int on_event(void *ctx, void *data, size_t size)
{
	int64_t seq = (int64_t)((const struct event *)data)->seq;
	delivered++;
	if (seq <= last_seq)
		out_of_order++;
	last_seq = seq;
	return 0;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls the ring behind map_fd for the given seconds (100 ms waits, as the Lua side does),
 * then consumes what is left; returns the records delivered, or -1 if libbpf cannot open
 * the ring, and sets the out-of-order count. */
long bench_sustained_consume(int map_fd, double seconds, long *disordered)
{
	struct ring_buffer *rb = ring_buffer__new(map_fd, on_event, NULL, NULL);
	if (!rb)
		return -1;
	delivered = out_of_order = 0;
	last_seq = -1;
	double deadline = now_seconds() + seconds;
	while (now_seconds() < deadline)
		ring_buffer__poll(rb, 100);
	ring_buffer__consume(rb);
	ring_buffer__free(rb);
	*disordered = out_of_order;
	return delivered;
}
