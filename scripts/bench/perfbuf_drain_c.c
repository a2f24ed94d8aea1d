/* The baseline for perfbuf_drain.lua: libbpf's own perf buffer consumer
 * (perf_buffer__consume) with a C callback that reads one field of each sample, as a C tool
 * would drain a perf buffer. The benchmark compiles this into a shared object and calls it
 * through the FFI, on a BPF_PERF_OUTPUT map of its own (libbpf puts its own perf events in
 * the map's slots). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <stdint.h>
#include <time.h>

struct event {
	uint64_t seq;
	uint64_t a, b;
};

static uint64_t checksum;
static long samples, lost;

static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	checksum += ((const struct event *)data)->seq;
	samples++;
}

static void on_lost(void *ctx, int cpu, __u64 count)
{
	lost += (long)count;
}

static struct perf_buffer *pb;

/* Sets up libbpf's consumer (page_cnt pages per CPU) on the map behind map_fd once, so that
 * its mappings are warm for every timed drain, as bpflua's are. */
int bench_libbpf_perf_open(int map_fd, int page_cnt)
{
	pb = perf_buffer__new(map_fd, (size_t)page_cnt, on_sample, on_lost, NULL, NULL);
	return pb ? 0 : -1;
}

/* Drains every CPU's ring; returns the samples consumed (or a negative error) and sets the
 * nanoseconds the drain took, the sum of the seq fields it read and the samples lost. */
long bench_libbpf_perf_drain(double *elapsed_ns, uint64_t *sum, long *lost_samples)
{
	struct timespec start, end;
	checksum = 0;
	samples = lost = 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int err = perf_buffer__consume(pb);
	clock_gettime(CLOCK_MONOTONIC, &end);
	*elapsed_ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
	*sum = checksum;
	*lost_samples = lost;
	return err < 0 ? err : samples;
}
