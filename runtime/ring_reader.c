/* Rings that Lua reads (struct bpflua_ring_reader): mapping a BPF ring buffer, closing any
 * ring, and the acquire/release accesses of the ring protocol for architectures where a plain
 * load or store is not one. perf_output.c opens perf rings into the same structure.
 *
 * A BPF ring buffer's mapping, as the kernel lays it out: a consumer page (the consumer
 * position, which we write), then a producer page (the producer position) followed by the
 * data pages mapped twice in a row, so that a record that wraps is still contiguous. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "util.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct bpflua_ring_reader *bpflua_ringbuf_open(int map_fd, char **error)
{
	struct bpf_map_info info;
	uint32_t info_len = sizeof(info);
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(map_fd, &info, &info_len) != 0) {
		*error = str_printf("cannot read the ring buffer's size: %s", strerror(errno));
		return NULL;
	}
	size_t page_size = (size_t)sysconf(_SC_PAGESIZE);
	size_t size = info.max_entries;
	struct bpflua_ring_reader *ring = calloc(1, sizeof(*ring));
	if (!ring) {
		*error = str_printf("out of memory");
		return NULL;
	}
	void *consumer = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
	void *producer = consumer == MAP_FAILED ? MAP_FAILED
			 : mmap(NULL, page_size + 2 * size, PROT_READ, MAP_SHARED, map_fd,
				(off_t)page_size);
	if (producer == MAP_FAILED) {
		int err = errno;
		if (consumer != MAP_FAILED)
			munmap(consumer, page_size);
		free(ring);
		*error = str_printf("cannot map ring buffer: %s", strerror(err));
		errno = err;
		return NULL;
	}
	ring->consumer_pos = consumer;
	ring->producer_pos = producer;
	ring->data = (uint8_t *)producer + page_size;
	ring->size = size;
	ring->fd = map_fd;
	ring->cpu = -1;
	ring->map_fd = -1;
	ring->mappings[0] = consumer;
	ring->mapping_lengths[0] = page_size;
	ring->mappings[1] = producer;
	ring->mapping_lengths[1] = page_size + 2 * size;
	return ring;
}

void bpflua_ring_reader_close(struct bpflua_ring_reader *ring)
{
	if (!ring)
		return;
	if (ring->map_fd >= 0) { /* a perf ring: its slot, its own map handle and its event */
		bpf_map_delete_elem(ring->map_fd, &ring->cpu);
		close(ring->map_fd);
		close(ring->fd);
	}
	for (int i = 0; i < 2; i++)
		if (ring->mappings[i])
			munmap(ring->mappings[i], ring->mapping_lengths[i]);
	free(ring);
}

uint64_t bpflua_load_acquire_u64(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

int32_t bpflua_load_acquire_s32(const int32_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

void bpflua_store_release_u64(uint64_t *p, uint64_t value)
{
	__atomic_store_n(p, value, __ATOMIC_RELEASE);
}
