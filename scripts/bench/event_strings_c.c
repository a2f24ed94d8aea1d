/* The baseline for event_strings.lua: what a C consumer does with an event's comm, strnlen and
 * memcpy into a buffer of its own, over the same events; the lengths are added up, as the
 * Lua cases do. */
#include <stdint.h>
#include <string.h>
#include <time.h>

struct event {
	uint32_t pid;
	char comm[16];
};

/* Copies out comm of events[i % nevents] for i below n; returns the sum of their lengths and
 * sets the nanoseconds it took. */
long bench_c_strings(const struct event *events, int nevents, long n, double *elapsed_ns)
{
	struct timespec start, end;
	char buf[17];
	long count = 0;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (long i = 0; i < n; i++) {
		const volatile char *comm = events[i % nevents].comm;
		size_t len = strnlen((const char *)comm, sizeof(buf) - 1);
		memcpy(buf, (const char *)comm, len);
		buf[len] = '\0';
		count += (long)strlen(buf);
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	*elapsed_ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
	return count;
}
