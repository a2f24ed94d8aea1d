/* The kernel side of a perf buffer (bcc's open_perf_buffer): for one CPU, a BPF output perf
 * event, its ring mapped into this process, and the event placed in the BPF_PERF_OUTPUT
 * map's slot for that CPU so that perf_submit on that CPU writes there. The records are read
 * in Lua (lua/bpflua/perfbuf.lua), straight from the mapping, through the same structure as
 * a ring buffer's (struct bpflua_ring_reader; runtime/ring_reader.c closes both). The
 * mapping is a metadata page (struct perf_event_mmap_page: data_head, data_tail) then the
 * data pages, mapped once: a record may wrap around their end. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "util.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct bpflua_ring_reader *bpflua_perf_ring_open(int map_fd, int cpu, int page_cnt, char **error)
{
	long page_size = sysconf(_SC_PAGESIZE);
	if (page_cnt <= 0 || (page_cnt & (page_cnt - 1)) != 0) {
		*error = str_printf("open_perf_buffer: page_cnt must be a power of two, not %d", page_cnt);
		return NULL;
	}
	struct perf_event_attr attr = {
		.type = PERF_TYPE_SOFTWARE,
		.size = sizeof(attr),
		.config = PERF_COUNT_SW_BPF_OUTPUT,
		.sample_type = PERF_SAMPLE_RAW,
		.sample_period = 1,
		.wakeup_events = 1, /* wake a waiting poll for every record, as bcc does */
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		*error = str_printf("cannot open the perf buffer's event on CPU %d: %s", cpu, strerror(err));
		errno = err;
		return NULL;
	}
	size_t length = (size_t)page_size * (size_t)(page_cnt + 1);
	void *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int err = errno;
		close(fd);
		*error = str_printf("cannot map the perf buffer of CPU %d (%d pages): %s%s", cpu,
				    page_cnt, strerror(err),
				    err == EPERM ? " (perf_event_mlock_kb is too small for it)" : "");
		return NULL;
	}
	/* The ring keeps its own handle on the map: the slot is cleared at close even if the
	 * BPF object has closed its descriptor by then. */
	int own_map_fd = fcntl(map_fd, F_DUPFD_CLOEXEC, 0);
	if (own_map_fd < 0 || bpf_map_update_elem(own_map_fd, &cpu, &fd, BPF_ANY) != 0) {
		int err = errno;
		if (own_map_fd >= 0)
			close(own_map_fd);
		munmap(base, length);
		close(fd);
		*error = str_printf("cannot put CPU %d's perf event in the perf buffer map: %s", cpu,
				    strerror(err));
		return NULL;
	}
	struct bpflua_ring_reader *ring = calloc(1, sizeof(*ring));
	if (!ring) {
		bpf_map_delete_elem(own_map_fd, &cpu);
		close(own_map_fd);
		munmap(base, length);
		close(fd);
		*error = str_printf("out of memory");
		return NULL;
	}
	struct perf_event_mmap_page *meta = base;
	ring->consumer_pos = (uint64_t *)&meta->data_tail;
	ring->producer_pos = (const uint64_t *)&meta->data_head;
	ring->data = (uint8_t *)base + page_size;
	ring->size = (uint64_t)page_size * (uint64_t)page_cnt;
	ring->fd = fd;
	ring->cpu = cpu;
	ring->map_fd = own_map_fd;
	ring->mappings[0] = base;
	ring->mapping_lengths[0] = length;
	return ring;
}
