/* bcc's table declarations as libbpf BTF maps, and the generic helpers that table method
 * calls expand to.
 *
 * The runtime rewrites `counts.increment(k)` to `counts$increment(k)` and defines
 * `counts$increment(...)` as `bpflua_map_increment(counts, ...)` (see runtime/rewrite.c), so
 * each helper here takes the map's BTF definition itself and gets the key and value types
 * from it: `typeof(*(map).key)`; taking the name, not its address, lets a helper reach the
 * table's companions (a ring's drop counter) by pasting tokens. Being macros, they are type-checked only where used,
 * and a table of structs has no increment to trip over. */
#ifndef BPFLUA_TABLES_H
#define BPFLUA_TABLES_H

/* bcc names a BPF_TABLE's type with a string; the string is compared at compile time. */
#define bpflua_type_is(t, name) \
	(sizeof(t) == sizeof(name) && __builtin_memcmp(t, name, sizeof(name)) == 0)
#define bpflua_map_type(t) \
	(bpflua_type_is(t, "hash") ? BPF_MAP_TYPE_HASH : \
	 bpflua_type_is(t, "histogram") ? BPF_MAP_TYPE_HASH : \
	 bpflua_type_is(t, "array") ? BPF_MAP_TYPE_ARRAY : \
	 bpflua_type_is(t, "percpu_hash") ? BPF_MAP_TYPE_PERCPU_HASH : \
	 bpflua_type_is(t, "percpu_array") ? BPF_MAP_TYPE_PERCPU_ARRAY : \
	 bpflua_type_is(t, "lru_hash") ? BPF_MAP_TYPE_LRU_HASH : \
	 bpflua_type_is(t, "lru_percpu_hash") ? BPF_MAP_TYPE_LRU_PERCPU_HASH : \
	 bpflua_type_is(t, "percpu_lru_hash") ? BPF_MAP_TYPE_LRU_PERCPU_HASH : \
	 bpflua_type_is(t, "lpm_trie") ? BPF_MAP_TYPE_LPM_TRIE : \
	 bpflua_type_is(t, "stacktrace") ? BPF_MAP_TYPE_STACK_TRACE : \
	 bpflua_type_is(t, "perf_output") ? BPF_MAP_TYPE_PERF_EVENT_ARRAY : \
	 bpflua_type_is(t, "cgroup_array") ? BPF_MAP_TYPE_CGROUP_ARRAY : \
	 bpflua_type_is(t, "extern") ? BPF_MAP_TYPE_HASH : -1)

#define BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries) \
	struct { \
		_Static_assert(bpflua_map_type(_table_type) >= 0, \
			       "BPF_TABLE: unknown table type " _table_type); \
		__uint(type, bpflua_map_type(_table_type) >= 0 ? bpflua_map_type(_table_type) : 1); \
		__type(key, _key_type); \
		__type(value, _leaf_type); \
		__uint(max_entries, _max_entries); \
		__uint(map_flags, bpflua_type_is(_table_type, "lpm_trie") ? BPF_F_NO_PREALLOC : 0); \
	} _name SEC(".maps"); \
	BPFLUA_TABLE_NOTE(_name, _table_type, "")

/* A note for the loader (runtime/map_sharing.c) in a section libbpf leaves alone: the table's
 * name, what to do with it ("pinned", "public", "shared", or a type, of which "extern" asks
 * for a public table of another object), a path. */
#define BPFLUA_TABLE_NOTE(_name, _how, _path) \
	const char __bpflua_table_note_##_name[] \
		__attribute__((section(".bpflua.tables"), used, aligned(1))) = #_name "\0" _how "\0" _path

/* bcc's tables that outlive or cross one object: pinned in bpffs (opened again when the path
 * exists), or public to the objects loaded after this one in the process, which declare
 * them with BPF_TABLE("extern", key, leaf, name, size). */
#define BPF_TABLE_PINNED(_table_type, _key_type, _leaf_type, _name, _max_entries, _path, ...) \
	BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries); \
	const char __bpflua_table_share_##_name[] \
		__attribute__((section(".bpflua.tables"), used, aligned(1))) = #_name "\0pinned\0" _path
#define BPF_TABLE_PUBLIC(_table_type, _key_type, _leaf_type, _name, _max_entries) \
	BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries); \
	const char __bpflua_table_share_##_name[] \
		__attribute__((section(".bpflua.tables"), used, aligned(1))) = #_name "\0public\0"
#define BPF_TABLE_SHARED(_table_type, _key_type, _leaf_type, _name, _max_entries) \
	BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries); \
	const char __bpflua_table_share_##_name[] \
		__attribute__((section(".bpflua.tables"), used, aligned(1))) = #_name "\0shared\0"

/* Optional arguments, as bcc has them: pick the macro by the number of arguments. */
#define BPFLUA_PICK4(_1, _2, _3, _4, name, ...) name

#define BPF_HASH(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_HASH4, BPF_HASH3, BPF_HASH2, BPF_HASH1)(__VA_ARGS__)
#define BPF_HASH1(name) BPF_TABLE("hash", u64, u64, name, 10240)
#define BPF_HASH2(name, key) BPF_TABLE("hash", key, u64, name, 10240)
#define BPF_HASH3(name, key, leaf) BPF_TABLE("hash", key, leaf, name, 10240)
#define BPF_HASH4(name, key, leaf, size) BPF_TABLE("hash", key, leaf, name, size)

#define BPF_LRU_HASH(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_LRU_HASH4, BPF_LRU_HASH3, BPF_LRU_HASH2, \
		     BPF_LRU_HASH1)(__VA_ARGS__)
#define BPF_LRU_HASH1(name) BPF_TABLE("lru_hash", u64, u64, name, 10240)
#define BPF_LRU_HASH2(name, key) BPF_TABLE("lru_hash", key, u64, name, 10240)
#define BPF_LRU_HASH3(name, key, leaf) BPF_TABLE("lru_hash", key, leaf, name, 10240)
#define BPF_LRU_HASH4(name, key, leaf, size) BPF_TABLE("lru_hash", key, leaf, name, size)

#define BPF_PERCPU_HASH(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_PERCPU_HASH4, BPF_PERCPU_HASH3, BPF_PERCPU_HASH2, \
		     BPF_PERCPU_HASH1)(__VA_ARGS__)
#define BPF_PERCPU_HASH1(name) BPF_TABLE("percpu_hash", u64, u64, name, 10240)
#define BPF_PERCPU_HASH2(name, key) BPF_TABLE("percpu_hash", key, u64, name, 10240)
#define BPF_PERCPU_HASH3(name, key, leaf) BPF_TABLE("percpu_hash", key, leaf, name, 10240)
#define BPF_PERCPU_HASH4(name, key, leaf, size) BPF_TABLE("percpu_hash", key, leaf, name, size)

#define BPF_ARRAY(...) \
	BPFLUA_PICK4(__VA_ARGS__, _, BPF_ARRAY3, BPF_ARRAY2, BPF_ARRAY1)(__VA_ARGS__)
#define BPF_ARRAY1(name) BPF_TABLE("array", int, u64, name, 10240)
#define BPF_ARRAY2(name, leaf) BPF_TABLE("array", int, leaf, name, 10240)
#define BPF_ARRAY3(name, leaf, size) BPF_TABLE("array", int, leaf, name, size)

#define BPF_PERCPU_ARRAY(...) \
	BPFLUA_PICK4(__VA_ARGS__, _, BPF_PERCPU_ARRAY3, BPF_PERCPU_ARRAY2, \
		     BPF_PERCPU_ARRAY1)(__VA_ARGS__)
#define BPF_PERCPU_ARRAY1(name) BPF_TABLE("percpu_array", int, u64, name, 10240)
#define BPF_PERCPU_ARRAY2(name, leaf) BPF_TABLE("percpu_array", int, leaf, name, 10240)
#define BPF_PERCPU_ARRAY3(name, leaf, size) BPF_TABLE("percpu_array", int, leaf, name, size)

#define BPF_HISTOGRAM(...) \
	BPFLUA_PICK4(__VA_ARGS__, _, BPF_HISTOGRAM3, BPF_HISTOGRAM2, \
		     BPF_HISTOGRAM1)(__VA_ARGS__)
#define BPF_HISTOGRAM1(name) BPF_TABLE("histogram", int, bpflua_histogram_count, name, 64)
#define BPF_HISTOGRAM2(name, key) BPF_TABLE("histogram", key, bpflua_histogram_count, name, 64)
#define BPF_HISTOGRAM3(name, key, size) \
	BPF_TABLE("histogram", key, bpflua_histogram_count, name, size)
/* A histogram's counts are u64 under a name of their own, which the map's BTF keeps: the REPL
 * finds histograms by it and prints them as bars. */
typedef u64 bpflua_histogram_count;

/* ---- Methods of key/value tables --------------------------------------------------------- */

#define bpflua_map_lookup(map, keyp) ((typeof((map).value))bpf_map_lookup_elem(&(map), keyp))
#define bpflua_map_update(map, keyp, leafp) bpf_map_update_elem(&(map), keyp, leafp, BPF_ANY)
#define bpflua_map_insert(map, keyp, leafp) bpf_map_update_elem(&(map), keyp, leafp, BPF_NOEXIST)
#define bpflua_map_delete(map, keyp) bpf_map_delete_elem(&(map), keyp)

#define bpflua_map_lookup_or_try_init(map, keyp, initp) ({ \
	typeof((map).value) _bpflua_leaf = bpf_map_lookup_elem(&(map), keyp); \
	if (!_bpflua_leaf) { \
		bpf_map_update_elem(&(map), keyp, initp, BPF_NOEXIST); \
		_bpflua_leaf = bpf_map_lookup_elem(&(map), keyp); \
	} \
	_bpflua_leaf; })

/* bcc's older lookup_or_init: as there, a failed insert returns 0 from the probe itself, so
 * the leaf it gives is never NULL and the program may use it unchecked. */
#define bpflua_map_lookup_or_init(map, keyp, initp) ({ \
	typeof((map).value) _bpflua_leaf = bpf_map_lookup_elem(&(map), keyp); \
	if (!_bpflua_leaf) { \
		bpf_map_update_elem(&(map), keyp, initp, BPF_NOEXIST); \
		_bpflua_leaf = bpf_map_lookup_elem(&(map), keyp); \
		if (!_bpflua_leaf) \
			return 0; \
	} \
	_bpflua_leaf; })

/* increment(key[, n]): as bcc, a plain add when the slot exists (use atomic_increment when
 * several CPUs share the slot), otherwise insert n. */
#define bpflua_map_increment(map, ...) bpflua_map_add(map, 0, __VA_ARGS__, 1, 0)
#define bpflua_map_atomic_increment(map, ...) bpflua_map_add(map, 1, __VA_ARGS__, 1, 0)
#define bpflua_map_add(map, atomic, _key, _n, ...) ({ \
	typeof(*(map).key) _bpflua_key = (_key); \
	typeof((map).value) _bpflua_leaf = bpf_map_lookup_elem(&(map), &_bpflua_key); \
	if (_bpflua_leaf) { \
		if (atomic) \
			__sync_fetch_and_add(_bpflua_leaf, (_n)); \
		else \
			*_bpflua_leaf += (_n); \
	} else { \
		typeof(*(map).value) _bpflua_init = (_n); \
		bpf_map_update_elem(&(map), &_bpflua_key, &_bpflua_init, BPF_NOEXIST); \
	} })

/* ---- Ring buffers -------------------------------------------------------------------------- */

/* BPF_RINGBUF_OUTPUT(name, page_cnt): one ring of page_cnt pages shared by every CPU (the
 * kernel wants a power-of-two size), and beside it a per-CPU count of the records that could
 * not be written because the ring was full, which Lua reads as name:dropped(). */
#define BPF_RINGBUF_OUTPUT(_name, _page_cnt) \
	struct { \
		_Static_assert((_page_cnt) > 0 && ((_page_cnt) & ((_page_cnt) - 1)) == 0, \
			       "BPF_RINGBUF_OUTPUT: the page count of " #_name \
			       " must be a power of two"); \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, (_page_cnt) * PAGE_SIZE); \
	} _name SEC(".maps"); \
	struct { \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__type(key, u32); \
		__type(value, u64); \
		__uint(max_entries, 1); \
	} _name##__bpflua_drops SEC(".maps")

/* BPF_TABLE("ringbuf", key, leaf, name, bytes) (the rewriter renames it to this): a ring of
 * that many bytes (a power-of-two number of pages); key and leaf are ignored, as by bcc. */
#define BPFLUA_RB(_table_type, _key_type, _leaf_type, _name, _bytes) \
	struct { \
		_Static_assert((_bytes) % PAGE_SIZE == 0 && ((_bytes) / PAGE_SIZE & ((_bytes) / PAGE_SIZE - 1)) == 0, \
			       "BPF_TABLE(\"ringbuf\"): the size of " #_name \
			       " must be a power-of-two number of pages, in bytes"); \
		__uint(type, BPF_MAP_TYPE_RINGBUF); \
		__uint(max_entries, _bytes); \
	} _name SEC(".maps"); \
	struct { \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); \
		__type(key, u32); \
		__type(value, u64); \
		__uint(max_entries, 1); \
	} _name##__bpflua_drops SEC(".maps")

#define bpflua_ringbuf_count_drop(ring) ({ \
	u32 _bpflua_zero = 0; \
	u64 *_bpflua_drops = bpf_map_lookup_elem(&ring##__bpflua_drops, &_bpflua_zero); \
	if (_bpflua_drops) \
		*_bpflua_drops += 1; })

#define bpflua_ringbuf_output(ring, data, size, flags) ({ \
	long _bpflua_ret = bpf_ringbuf_output(&(ring), data, size, flags); \
	if (_bpflua_ret) \
		bpflua_ringbuf_count_drop(ring); \
	_bpflua_ret; })
#define bpflua_ringbuf_reserve(ring, size) ({ \
	void *_bpflua_rec = bpf_ringbuf_reserve(&(ring), size, 0); \
	if (!_bpflua_rec) \
		bpflua_ringbuf_count_drop(ring); \
	_bpflua_rec; })
#define bpflua_ringbuf_submit(ring, data, flags) bpf_ringbuf_submit(data, flags)
#define bpflua_ringbuf_discard(ring, data, flags) bpf_ringbuf_discard(data, flags)
#define bpflua_ringbuf_query(ring, flag) bpf_ringbuf_query(&(ring), flag)

/* ---- Perf buffers ------------------------------------------------------------------------- */

/* BPF_PERF_OUTPUT(name): a perf event array with a slot per CPU (libbpf sizes a zero
 * max_entries to the number of possible CPUs); Lua puts a BPF output event in each slot.
 * perf_submit writes to the slot of the CPU it runs on, as bcc's does. */
#define BPF_PERF_OUTPUT(_name) \
	struct { \
		__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); \
		__type(key, int); \
		__type(value, u32); \
	} _name SEC(".maps")

#define bpflua_perf_submit(map, ctx, data, size) \
	bpf_perf_event_output(ctx, &(map), BPF_F_CURRENT_CPU, data, size)

/* ---- Stack traces ------------------------------------------------------------------------- */

/* bcc's layout of a stack: up to PERF_MAX_STACK_DEPTH return addresses, zero after the last. */
#ifndef BPFLUA_MAX_STACK_DEPTH
#define BPFLUA_MAX_STACK_DEPTH 127
#endif
struct bpf_stacktrace {
	u64 ip[BPFLUA_MAX_STACK_DEPTH];
};

#define BPF_STACK_TRACE(_name, _max_entries) \
	struct { \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE); \
		__type(key, u32); \
		__type(value, struct bpf_stacktrace); \
		__uint(max_entries, _max_entries); \
	} _name SEC(".maps")

/* A negative result is an error (-EEXIST for a hash collision without BPF_F_REUSE_STACKID,
 * -EFAULT for no stack), as with bcc. */
#define bpflua_get_stackid(map, ctx, flags) bpf_get_stackid(ctx, &(map), flags)

/* ---- Program declarations ---------------------------------------------------------------- */

/* The argument struct is generated from the tracepoint's tracefs format (runtime/tracefs.c). */
#define TRACEPOINT_PROBE(category, event) \
	SEC("tracepoint/" #category "/" #event) \
	int tracepoint__##category##__##event(struct tracepoint__##category##__##event *args)

/* bcc's RAW_TRACEPOINT_PROBE(event): ctx->args[] are the tracepoint's raw arguments. */
#define RAW_TRACEPOINT_PROBE(event) \
	SEC("raw_tracepoint/" #event) \
	int raw_tracepoint__##event(struct bpf_raw_tracepoint_args *ctx)

/* ---- Program arrays -------------------------------------------------------------------- */

/* BPF_PROG_ARRAY(name, size): programs by index for tail calls; Lua fills it with functions
 * from b:load_func (b["name"][i] = fn). Sizes, not BTF types: the kernel takes no BTF for
 * program arrays. */
#define BPF_PROG_ARRAY(_name, _max_entries) \
	struct { \
		__uint(type, BPF_MAP_TYPE_PROG_ARRAY); \
		__uint(key_size, sizeof(u32)); \
		__uint(value_size, sizeof(u32)); \
		__uint(max_entries, _max_entries); \
	} _name SEC(".maps")

/* name.call(ctx, index): jumps to the program at index; returns only when the slot is empty
 * (or the tail call limit is reached), so the code after it is the fallback. */
#define bpflua_prog_array_call(map, ctx, index) bpf_tail_call(ctx, &(map), index)

/* ---- More map kinds, as bcc declares them ------------------------------------------------ */

/* BPF_LRU_PERCPU_HASH (bcc's BPF_TABLE("lru_percpu_hash")) and BPF_PERCPU_LRU_HASH. */
#define BPF_LRU_PERCPU_HASH(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_LRU_PERCPU_HASH4, BPF_LRU_PERCPU_HASH3, BPF_LRU_PERCPU_HASH2, \
		     BPF_LRU_PERCPU_HASH1)(__VA_ARGS__)
#define BPF_LRU_PERCPU_HASH1(name) BPF_TABLE("lru_percpu_hash", u64, u64, name, 10240)
#define BPF_LRU_PERCPU_HASH2(name, key) BPF_TABLE("lru_percpu_hash", key, u64, name, 10240)
#define BPF_LRU_PERCPU_HASH3(name, key, leaf) BPF_TABLE("lru_percpu_hash", key, leaf, name, 10240)
#define BPF_LRU_PERCPU_HASH4(name, key, leaf, size) BPF_TABLE("lru_percpu_hash", key, leaf, name, size)
#define BPF_PERCPU_LRU_HASH BPF_LRU_PERCPU_HASH

/* BPF_QUEUE / BPF_STACK(name, leaf_type, size): FIFO and LIFO of values, no keys.
 * name.push(&v, flags) (BPF_EXIST replaces the oldest when full), name.pop(&v), name.peek(&v):
 * 0 or a negative errno (-ENOENT when empty). */
#define BPFLUA_QUEUE_STACK(_map_type, _name, _leaf_type, _max_entries) \
	struct { \
		__uint(type, _map_type); \
		__type(value, _leaf_type); \
		__uint(max_entries, _max_entries); \
	} _name SEC(".maps")
#define BPF_QUEUE(_name, _leaf_type, _max_entries) \
	BPFLUA_QUEUE_STACK(BPF_MAP_TYPE_QUEUE, _name, _leaf_type, _max_entries)
#define BPF_STACK(_name, _leaf_type, _max_entries) \
	BPFLUA_QUEUE_STACK(BPF_MAP_TYPE_STACK, _name, _leaf_type, _max_entries)
#define bpflua_queue_push(map, valp, flags) bpf_map_push_elem(&(map), valp, flags)
#define bpflua_queue_pop(map, valp) bpf_map_pop_elem(&(map), valp)
#define bpflua_queue_peek(map, valp) bpf_map_peek_elem(&(map), valp)

/* BPF_LPM_TRIE(name[, key_type[, leaf_type[, size]]]): longest-prefix match; the key begins
 * with a u32 prefix length in bits, then the data (struct { u32 prefixlen; u8 addr[4]; }).
 * The kernel wants it unpreallocated. */
#define BPF_LPM_TRIE(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_LPM_TRIE4, BPF_LPM_TRIE3, BPF_LPM_TRIE2, BPF_LPM_TRIE1)(__VA_ARGS__)
#define BPF_LPM_TRIE1(name) BPF_LPM_TRIE4(name, u64, u64, 10240)
#define BPF_LPM_TRIE2(name, key) BPF_LPM_TRIE4(name, key, u64, 10240)
#define BPF_LPM_TRIE3(name, key, leaf) BPF_LPM_TRIE4(name, key, leaf, 10240)
#define BPF_LPM_TRIE4(_name, _key_type, _leaf_type, _max_entries) \
	struct { \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE); \
		__type(key, _key_type); \
		__type(value, _leaf_type); \
		__uint(max_entries, _max_entries); \
		__uint(map_flags, BPF_F_NO_PREALLOC); \
	} _name SEC(".maps")

/* BPF_ARRAY_OF_MAPS(name, inner, size), BPF_HASH_OF_MAPS(name[, key_type], inner, size): maps
 * whose values are maps shaped like the table inner (bcc names it with a string; the
 * rewriter takes the quotes off). name.lookup(&key) gives the inner map, for
 * bpf_map_lookup_elem(inner_map, &k). Lua sets slots to tables: b["name"][k] = b["inner"]. */
#define BPFLUA_MAP_OF_MAPS(_map_type, _name, _key_type, _inner, _max_entries) \
	struct { \
		__uint(type, _map_type); \
		__type(key, _key_type); \
		__uint(max_entries, _max_entries); \
		__array(values, typeof(_inner)); \
	} _name SEC(".maps")
#define BPF_ARRAY_OF_MAPS(_name, _inner, _max_entries) \
	BPFLUA_MAP_OF_MAPS(BPF_MAP_TYPE_ARRAY_OF_MAPS, _name, int, _inner, _max_entries)
#define BPF_HASH_OF_MAPS(...) \
	BPFLUA_PICK4(__VA_ARGS__, BPF_HASH_OF_MAPS4, BPF_HASH_OF_MAPS3, _, _)(__VA_ARGS__)
#define BPF_HASH_OF_MAPS3(_name, _inner, _max_entries) \
	BPFLUA_MAP_OF_MAPS(BPF_MAP_TYPE_HASH_OF_MAPS, _name, int, _inner, _max_entries)
#define BPF_HASH_OF_MAPS4(_name, _key_type, _inner, _max_entries) \
	BPFLUA_MAP_OF_MAPS(BPF_MAP_TYPE_HASH_OF_MAPS, _name, _key_type, _inner, _max_entries)
#define bpflua_map_of_maps_lookup(map, keyp) ((void *)bpf_map_lookup_elem(&(map), keyp))

/* BPF_CGROUP_ARRAY(name, size): cgroups by index, set from Lua with a cgroup's path;
 * name.check_current_task(i) is 1 when the current task is in cgroup i (or below it). */
#define BPF_CGROUP_ARRAY(_name, _max_entries) \
	struct { \
		__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY); \
		__uint(key_size, sizeof(u32)); \
		__uint(value_size, sizeof(u32)); \
		__uint(max_entries, _max_entries); \
	} _name SEC(".maps")
#define bpflua_cgroup_check_current_task(map, index) bpf_current_task_under_cgroup(&(map), index)

/* BPF_TASK_STORAGE / BPF_INODE_STORAGE / BPF_SK_STORAGE(name, leaf_type): a value per task,
 * inode or socket, kept by the kernel with the object. name.task_storage_get(task, &init,
 * BPF_LOCAL_STORAGE_GET_F_CREATE) gives a pointer to the value (or NULL);
 * name.task_storage_delete(task). Likewise inode_storage_* (LSM programs) and sk_storage_*. */
#define BPFLUA_LOCAL_STORAGE(_map_type, _name, _leaf_type) \
	struct { \
		__uint(type, _map_type); \
		__uint(map_flags, BPF_F_NO_PREALLOC); \
		__type(key, int); \
		__type(value, _leaf_type); \
	} _name SEC(".maps")
#define BPF_TASK_STORAGE(_name, _leaf_type) \
	BPFLUA_LOCAL_STORAGE(BPF_MAP_TYPE_TASK_STORAGE, _name, _leaf_type)
#define BPF_INODE_STORAGE(_name, _leaf_type) \
	BPFLUA_LOCAL_STORAGE(BPF_MAP_TYPE_INODE_STORAGE, _name, _leaf_type)
#define BPF_SK_STORAGE(_name, _leaf_type) \
	BPFLUA_LOCAL_STORAGE(BPF_MAP_TYPE_SK_STORAGE, _name, _leaf_type)
#define bpflua_task_storage_get(map, task, init, flags) \
	((typeof((map).value))bpf_task_storage_get(&(map), task, init, flags))
#define bpflua_task_storage_delete(map, task) bpf_task_storage_delete(&(map), task)
#define bpflua_inode_storage_get(map, inode, init, flags) \
	((typeof((map).value))bpf_inode_storage_get(&(map), inode, init, flags))
#define bpflua_inode_storage_delete(map, inode) bpf_inode_storage_delete(&(map), inode)
#define bpflua_sk_storage_get(map, sk, init, flags) \
	((typeof((map).value))bpf_sk_storage_get(&(map), sk, init, flags))
#define bpflua_sk_storage_delete(map, sk) bpf_sk_storage_delete(&(map), sk)

/* ---- USDT ----------------------------------------------------------------------------- */

/* bpf_usdt_readarg comes with BPF{usdt_contexts = {...}} (bpf/bpflua/usdt.h replaces these).
 * Without it, the text may carry bcc's own argument readers, _bpf_readarg_FN_N, which bcc's
 * USDT generates ahead of a tool's text: then bcc's rules read through them, as bcc's
 * frontend does; otherwise a read is an error at its line that says so (bcc_rules.cpp). */
int bpflua_usdt_readarg_unbound(int n, void *ctx, void *addr, unsigned long size);
int bpflua_usdt_readarg_p_unbound(int n, void *ctx, void *buf, unsigned long len);
#define bpf_usdt_readarg(n, ctx, addr) \
	bpflua_usdt_readarg_unbound(n, ctx, addr, sizeof(*(addr)))
#define bpf_usdt_readarg_p(n, ctx, buf, len) bpflua_usdt_readarg_p_unbound(n, ctx, buf, len)

#endif
