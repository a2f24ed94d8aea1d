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
	 bpflua_type_is(t, "lru_percpu_hash") ? BPF_MAP_TYPE_LRU_PERCPU_HASH : -1)

#define BPF_TABLE(_table_type, _key_type, _leaf_type, _name, _max_entries) \
	struct { \
		_Static_assert(bpflua_map_type(_table_type) >= 0, \
			       "BPF_TABLE: unknown table type " _table_type); \
		__uint(type, bpflua_map_type(_table_type) >= 0 ? bpflua_map_type(_table_type) : 1); \
		__type(key, _key_type); \
		__type(value, _leaf_type); \
		__uint(max_entries, _max_entries); \
	} _name SEC(".maps")

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

#endif
