/* The baselines for table_read.lua: reading every entry of a u32 -> u64 hash from C, the way
 * a C tool would, with libbpf's one-entry calls (get_next_key + lookup_elem) and with its
 * batch call (bpf_map_lookup_batch). The benchmark compiles this into a shared object and
 * calls it through the FFI, on the map bpflua reads. */
#include <bpf/bpf.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Walks the map one entry at a time; returns the entries read and sets the time it took and
 * the sum of the values. */
long bench_get_next_key(int map_fd, double *elapsed_ns, uint64_t *sum)
{
	uint32_t key, next;
	uint64_t value, total = 0;
	long n = 0;
	double start = now_ns();
	for (const void *prev = NULL; bpf_map_get_next_key(map_fd, prev, &next) == 0; prev = &key) {
		key = next;
		if (bpf_map_lookup_elem(map_fd, &key, &value) == 0) {
			total += value;
			n++;
		}
	}
	*elapsed_ns = now_ns() - start;
	*sum = total;
	return n;
}

/* Reads the map batch_size entries per call; returns the entries read (or a negative errno)
 * and sets the time it took and the sum of the values. The buffers are allocated once, as a
 * tool that reads the map periodically would keep them. */
long bench_lookup_batch(int map_fd, uint32_t batch_size, double *elapsed_ns, uint64_t *sum)
{
	static uint32_t *keys;
	static uint64_t *values;
	static uint32_t allocated;
	if (allocated < batch_size) {
		free(keys);
		free(values);
		keys = malloc(batch_size * sizeof(*keys));
		values = malloc(batch_size * sizeof(*values));
		if (!keys || !values)
			return -ENOMEM;
		allocated = batch_size;
	}
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t token_in, token_out; /* a hash's position between calls: a bucket number */
	uint64_t total = 0;
	long n = 0;
	int err = 0;
	double start = now_ns();
	for (int first = 1; err != -ENOENT; first = 0) {
		uint32_t count = batch_size;
		err = bpf_map_lookup_batch(map_fd, first ? NULL : &token_in, &token_out, keys, values,
					   &count, &opts);
		if (err != 0 && err != -ENOENT)
			return err;
		token_in = token_out;
		for (uint32_t i = 0; i < count; i++)
			total += values[i];
		n += count;
	}
	*elapsed_ns = now_ns() - start;
	*sum = total;
	return n;
}
