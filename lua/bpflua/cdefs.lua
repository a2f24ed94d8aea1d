-- The C functions bpflua calls through the FFI: libbpflua's, declared by bpflua.abi (generated
-- from runtime/bpflua.h when bpflua is built, so the two cannot drift), and the few of
-- libbpf's that the Lua side uses directly. Returns the library namespace; libbpf's symbols
-- resolve through it because libbpflua links libbpf.
local ffi = require("ffi")
local config = require("bpflua.config")

ffi.cdef(require("bpflua.abi"))

ffi.cdef[[
struct bpf_map;
struct btf;

struct btf_type {
  uint32_t name_off;
  uint32_t info;
  uint32_t size_or_type;
};
struct btf_array {
  uint32_t type;
  uint32_t index_type;
  uint32_t nelems;
};

struct bpf_map *bpf_object__find_map_by_name(const struct bpf_object *obj, const char *name);
struct bpf_map *bpf_object__next_map(const struct bpf_object *obj, const struct bpf_map *map);
struct btf *bpf_object__btf(const struct bpf_object *obj);
const char *bpf_map__name(const struct bpf_map *map);
int bpf_map__fd(const struct bpf_map *map);
int bpf_map__type(const struct bpf_map *map);
uint32_t bpf_map__key_size(const struct bpf_map *map);
uint32_t bpf_map__value_size(const struct bpf_map *map);
uint32_t bpf_map__max_entries(const struct bpf_map *map);
uint32_t bpf_map__btf_key_type_id(const struct bpf_map *map);
uint32_t bpf_map__btf_value_type_id(const struct bpf_map *map);
const struct btf_type *btf__type_by_id(const struct btf *btf, uint32_t id);
const char *btf__name_by_offset(const struct btf *btf, uint32_t offset);
int64_t btf__resolve_size(const struct btf *btf, uint32_t type_id);
int bpf_map_lookup_elem(int fd, const void *key, void *value);
int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags);
int bpf_map_delete_elem(int fd, const void *key);
int bpf_map_get_next_key(int fd, const void *key, void *next_key);
struct bpf_map_batch_opts {
  size_t sz;
  uint64_t elem_flags;
  uint64_t flags;
};
int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
                         uint32_t *count, const struct bpf_map_batch_opts *opts);
int bpf_map_lookup_and_delete_batch(int fd, void *in_batch, void *out_batch, void *keys,
                                    void *values, uint32_t *count,
                                    const struct bpf_map_batch_opts *opts);
int libbpf_num_possible_cpus(void);
const char *libbpf_bpf_map_type_str(int t);
char *strerror(int errnum);
]]

return ffi.load(config.library)
