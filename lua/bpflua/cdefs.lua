-- The C functions bpflua calls through the FFI: libbpflua's (runtime/bpflua.h, keep the two
-- in step) and the few of libbpf's that the Lua side uses directly. Returns the library
-- namespace; libbpf's symbols resolve through it because libbpflua links libbpf.
local ffi = require("ffi")
local config = require("bpflua.config")

ffi.cdef[[
struct bpf_object;
struct bpf_map;
struct btf;

const char *bpflua_version(void);
const char *bpflua_libbpf_version(void);
const char *bpflua_clang_version(void);
void bpflua_free(void *p);

struct bpflua_compile_opts {
  const char *source;
  size_t source_len;
  const char *source_name;
  const char *const *cflags;
  int ncflags;
  int debug;
};
struct bpflua_compiled {
  char *object;
  size_t object_len;
  char *metadata;
  int cache_hit;
};
struct bpflua_compiled *bpflua_compile(const struct bpflua_compile_opts *opts, char **error);
void bpflua_compiled_free(struct bpflua_compiled *compiled);

struct bpflua_object;
struct bpflua_object *bpflua_object_load_and_attach(const char *object, size_t object_len,
                                                    const char *name, int debug, char **error);
struct bpf_object *bpflua_object_bpf(struct bpflua_object *obj);
int bpflua_object_attached_count(struct bpflua_object *obj);
void bpflua_object_close(struct bpflua_object *obj);

struct bpflua_attach_opts {
  const char *fn_name;
  int kind;
  const char *target;
  const char *sym;
  unsigned long long offset;
  int pid;
  unsigned int perf_type;
  unsigned long long perf_config;
  unsigned long long sample_period;
  unsigned long long sample_freq;
  int cpu;
};
struct bpflua_attachment;
struct bpflua_attachment *bpflua_attach(struct bpflua_object *obj,
                                        const struct bpflua_attach_opts *opts, char **error);
void bpflua_attachment_close(struct bpflua_attachment *a);

int bpflua_check_privileges(char **error);
const char *bpflua_cache_dir(void);
int bpflua_cache_is_persistent(void);
int bpflua_interrupted(void);
void bpflua_set_interrupted(int value);
int bpflua_sleep(double seconds);

struct bpflua_perf_ring {
  int fd;
  int cpu;
  int map_fd;
  void *base;
  size_t length;
  size_t page_size;
};
struct bpflua_perf_ring *bpflua_perf_ring_open(int map_fd, int cpu, int page_cnt, char **error);
void bpflua_perf_ring_close(struct bpflua_perf_ring *ring);

struct bpflua_symbol {
  unsigned long long addr;
  unsigned long long size;
  const char *name;
  const char *module;
};
struct bpflua_load_segment {
  unsigned long long offset, vaddr, filesz;
};
struct bpflua_symbol_table {
  struct bpflua_symbol *symbols;
  int count;
  struct bpflua_load_segment *segments;
  int nsegments;
  char **strings;
  int nstrings;
};
struct bpflua_symbol_table *bpflua_kernel_symbols_load(char **error);
struct bpflua_symbol_table *bpflua_elf_symbols_load(const char *path, char **error);
void bpflua_symbol_table_free(struct bpflua_symbol_table *t);
int bpflua_symbol_lookup(const struct bpflua_symbol_table *t, unsigned long long addr);
int bpflua_symbol_find(const struct bpflua_symbol_table *t, const char *name);
unsigned long long bpflua_elf_offset_to_vaddr(const struct bpflua_symbol_table *t,
                                              unsigned long long offset);

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
char *strerror(int errnum);
]]

return ffi.load(config.library)
