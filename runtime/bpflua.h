/* libbpflua: the C ABI that lua/bpflua calls through the LuaJIT FFI and the host links.
 *
 * Every function that can fail returns NULL or a negative number and hands back a message
 * in *error, malloc'd and complete enough to show a person as it is; free it with
 * bpflua_free. The Lua side's FFI declarations are generated from this header when bpflua is
 * built (cmake/generate_abi.cmake writes bpflua/abi.lua): what is declared here is what Lua
 * sees, so it must stay plain C that LuaJIT's ffi.cdef parses (types from stddef.h at most;
 * macros are expanded by the preprocessor, and their definitions do not reach Lua). */
#ifndef BPFLUA_H
#define BPFLUA_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* libbpflua is built with -fvisibility=hidden: what this header declares is its API, and
 * all it exports (runtime/libbpflua.map gives the version). */
#pragma GCC visibility push(default)

struct bpf_object;

const char *bpflua_version(void);
const char *bpflua_libbpf_version(void);
const char *bpflua_clang_version(void);
void bpflua_free(void *p);

/* Compiling bcc-style BPF C to a BPF ELF, through the object cache. */
struct bpflua_compile_opts {
	const char *source;        /* the user's C, as written */
	size_t source_len;
	const char *source_name;   /* how errors name it: "<text>" or the file's path */
	const char *const *cflags; /* -DNAME[=value], -UNAME, -Idir, other clang options */
	int ncflags;
	int debug;                 /* print the C handed to Clang on stderr */
};

struct bpflua_compiled {
	char *object;              /* the BPF ELF */
	size_t object_len;
	char *metadata;            /* what the source says that the ELF does not: one line per fact,
				    * "event\tRING\tSIZE\tTYPE\tFFI DECL" and "field\tRING\tNAME\tOFFSET" */
	int cache_hit;             /* 1 when Clang did not run */
};

struct bpflua_compiled *bpflua_compile(const struct bpflua_compile_opts *opts, char **error);
void bpflua_compiled_free(struct bpflua_compiled *compiled);

/* Loading a compiled object into the kernel and attaching the probes its C names by
 * convention (TRACEPOINT_PROBE). On failure nothing stays loaded or attached. */
struct bpflua_object;
struct bpflua_object *bpflua_object_load_and_attach(const char *object, size_t object_len,
						    const char *name, int debug, char **error);
struct bpf_object *bpflua_object_bpf(struct bpflua_object *obj);
int bpflua_object_attached_count(struct bpflua_object *obj);
void bpflua_object_close(struct bpflua_object *obj);

/* Attaching a function of the program (bcc's program model: any non-static function, its
 * type chosen by how it is attached). Each attachment loads the function from the object's
 * ELF as a program of that type, sharing the object's maps, and owns its links. */
enum bpflua_attach_kind {
	BPFLUA_ATTACH_TRACEPOINT,      /* target "category:event" */
	BPFLUA_ATTACH_RAW_TRACEPOINT,  /* target "event" */
	BPFLUA_ATTACH_UPROBE,          /* target: the binary's path; sym or offset */
	BPFLUA_ATTACH_URETPROBE,
	BPFLUA_ATTACH_PERF_EVENT,      /* perf_type, perf_config, sample_period or _freq, cpu */
	BPFLUA_ATTACH_KPROBE,          /* target: the kernel function */
	BPFLUA_ATTACH_KRETPROBE,
};

struct bpflua_attach_opts {
	const char *fn_name;
	int kind;
	const char *target;
	const char *sym;               /* uprobes: the symbol, or NULL to use offset alone */
	unsigned long long offset;     /* uprobes: added to the symbol, or the address itself */
	int pid;                       /* uprobes, perf events: -1 for every process */
	unsigned int perf_type;
	unsigned long long perf_config;
	unsigned long long sample_period;
	unsigned long long sample_freq;
	int cpu;                       /* perf events: -1 for every CPU */
};

struct bpflua_attachment;
struct bpflua_attachment *bpflua_attach(struct bpflua_object *obj,
					const struct bpflua_attach_opts *opts, char **error);
void bpflua_attachment_close(struct bpflua_attachment *a);

/* A mapped ring that Lua walks (lua/bpflua/ringbuf.lua, perfbuf.lua): a BPF ring buffer
 * (runtime/ring_reader.c) or one CPU's perf buffer (runtime/perf_output.c), one shape for
 * both. The reader loads *producer_pos with acquire semantics, reads the records between
 * *consumer_pos and it in data (size bytes, a power of two; a ring buffer's data is mapped
 * twice in a row, so its records never wrap, a perf ring's may), then stores *consumer_pos
 * with release semantics. */
struct bpflua_ring_reader {
	uint64_t *consumer_pos;        /* ours: the consumer page, perf's data_tail */
	const uint64_t *producer_pos;  /* the kernel's: the producer page, perf's data_head */
	uint8_t *data;
	uint64_t size;
	int fd;                        /* for epoll: the ring buffer map, or the perf event */
	int cpu;                       /* perf rings: the CPU, whose slot in map_fd is ours */
	int map_fd;                    /* perf rings: our own handle on the BPF_PERF_OUTPUT map */
	void *mappings[2];
	size_t mapping_lengths[2];
};
/* Maps the BPF ring buffer map_fd. NULL and *error on failure. */
struct bpflua_ring_reader *bpflua_ringbuf_open(int map_fd, char **error);
/* Opens CPU cpu's perf ring of a BPF_PERF_OUTPUT map; page_cnt: data pages, a power of two.
 * NULL and *error on failure (errno ENODEV: the CPU is offline). */
struct bpflua_ring_reader *bpflua_perf_ring_open(int map_fd, int cpu, int page_cnt, char **error);
/* Unmaps (and, for a perf ring, clears its slot and closes its event). NULL is a no-op. */
void bpflua_ring_reader_close(struct bpflua_ring_reader *ring);
/* The ring protocol's memory order where plain loads and stores are not enough (not x86-64:
 * the Lua readers call these there, as libbpf's smp_load_acquire / smp_store_release). */
uint64_t bpflua_load_acquire_u64(const uint64_t *p);
int32_t bpflua_load_acquire_s32(const int32_t *p);
void bpflua_store_release_u64(uint64_t *p, uint64_t value);

/* Symbols by address, for BPF.ksym and b:sym (runtime/symbol_table.c, elf_symbols.c). */
struct bpflua_symbol {
	unsigned long long addr;   /* kernel address, or the ELF virtual address */
	unsigned long long size;   /* 0 when unknown (kallsyms) */
	const char *name;
	const char *module;        /* kallsyms: the module, NULL for the kernel itself */
};
struct bpflua_load_segment {
	unsigned long long offset, vaddr, filesz;
};
struct bpflua_symbol_table {
	struct bpflua_symbol *symbols; /* sorted by addr */
	int count;
	struct bpflua_load_segment *segments; /* ELF: the PT_LOAD segments, to map file offsets */
	int nsegments;
	char **strings;
	int nstrings;
};
struct bpflua_symbol_table *bpflua_kernel_symbols_load(char **error);
/* The function symbols of .symtab and .dynsym. */
struct bpflua_symbol_table *bpflua_elf_symbols_load(const char *path, char **error);
void bpflua_symbol_table_free(struct bpflua_symbol_table *t);
/* The index of the symbol holding addr (the nearest one below it when sizes are unknown),
 * or -1. */
int bpflua_symbol_lookup(const struct bpflua_symbol_table *t, unsigned long long addr);
/* The first symbol named name, or -1. */
int bpflua_symbol_find(const struct bpflua_symbol_table *t, const char *name);
/* The virtual address that a file offset is loaded at, or -1 (all ones) if none. */
unsigned long long bpflua_elf_offset_to_vaddr(const struct bpflua_symbol_table *t,
					      unsigned long long offset);

/* The tracefs root: /sys/kernel/tracing (mounting tracefs there when nothing is), else
 * /sys/kernel/debug/tracing; NULL when there is none. Everything that reads tracefs asks here. */
const char *bpflua_tracefs_dir(void);

/* 0 when this process may load BPF programs; otherwise -1 and the one-sentence reason. */
int bpflua_check_privileges(char **error);

/* Ctrl-C: the host's SIGINT handler sets the flag; blocking waits return early on it. */
int bpflua_interrupted(void);
void bpflua_set_interrupted(int value);

/* Sleeps; returns 0, or -1 at once when interrupted (the flag is left set for the caller). */
int bpflua_sleep(double seconds);

/* 1 when this kernel loads and attaches programs of the feature ("kfunc", "lsm",
 * "raw_tracepoint"); otherwise 0 and *why says why (malloc'd). */
int bpflua_kernel_supports(const char *feature, char **why);

/* Builds what the cache lacks for the running kernel (vmlinux.h, the prelude PCH) so that
 * the first script compiles fast (runtime/prepare.c; `bpflua --prepare`). 0 and *dir set to
 * the cache directory, or -1 and *error. */
int bpflua_prepare(const char **dir, char **error);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
