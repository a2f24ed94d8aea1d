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
	/* uprobes: places to attach the one loaded program instead of sym/offset (USDT) */
	const struct bpflua_uprobe_location *locations;
	int nlocations;
	/* a function bpflua_load_function loaded, to attach instead of loading fn_name again */
	const struct bpflua_attachment *loaded;
};

struct bpflua_uprobe_location {
	unsigned long long offset;         /* file offset in target */
	unsigned long long ref_ctr_offset; /* file offset of a semaphore the kernel counts, or 0 */
	unsigned long long cookie;         /* bpf_get_attach_cookie() in the program */
};

struct bpflua_attachment;
struct bpflua_attachment *bpflua_attach(struct bpflua_object *obj,
					const struct bpflua_attach_opts *opts, char **error);
void bpflua_attachment_close(struct bpflua_attachment *a);

/* bcc's load_func: loads fn_name as a program of prog_type (the kernel's enum bpf_prog_type)
 * without attaching it, on the object's maps; attach_type (enum bpf_attach_type, -1 for the
 * type's default) and attach_target (a kernel function or LSM hook, or NULL) for the types
 * that need them. Its fd goes into program arrays; bpflua_attach_opts.loaded attaches it.
 * Close with bpflua_attachment_close. */
struct bpflua_attachment *bpflua_load_function(struct bpflua_object *obj, const char *fn_name,
					       int prog_type, int attach_type,
					       const char *attach_target, char **error);
int bpflua_attachment_program_fd(const struct bpflua_attachment *a);

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
/* The same, plus the .symtab of the separate debug file (by build id, then .gnu_debuglink, as
 * gdb and bcc find it) when the file has no .symtab of its own. root is prefixed to path and
 * to the debug directories: "" or the / of a process in another mount namespace
 * (/proc/PID/root). */
struct bpflua_symbol_table *bpflua_elf_symbols_load_with_debug(const char *root, const char *path,
							       char **error);
/* The function symbols of an ELF image in memory (the vDSO, which no file holds). */
struct bpflua_symbol_table *bpflua_elf_symbols_load_image(const void *image, size_t size,
							  char **error);
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


/* USDT probes (runtime/usdt.c): a binary's .note.stapsdt, each location's arguments decoded
 * into the form the BPF side reads. bpf/bpflua/usdt.h holds the same structs for the BPF C;
 * keep the two in step (fixed-width fields, so the layouts agree). */
#define BPFLUA_USDT_MAX_ARGS 12

enum bpflua_usdt_arg_kind {
	BPFLUA_USDT_ARG_CONST = 0, /* the value is offset */
	BPFLUA_USDT_ARG_REG = 1,   /* the value is a register */
	BPFLUA_USDT_ARG_MEM = 2,   /* the value is at base + index * scale + offset */
};

struct bpflua_usdt_arg {
	long long offset;          /* CONST: the value; MEM: the displacement */
	short base_reg;            /* offset of the base register in struct pt_regs, -1: none */
	short index_reg;           /* offset of the index register in struct pt_regs, -1: none */
	unsigned char scale;       /* what the index is multiplied by */
	unsigned char kind;        /* enum bpflua_usdt_arg_kind */
	unsigned char size;        /* bytes: 1, 2, 4 or 8 */
	unsigned char is_signed;   /* the N@ prefix was negative */
	unsigned char reg_shift;   /* bits to shift the register right first (8 for %ah) */
	unsigned char pad[7];
};

struct bpflua_usdt_spec {
	struct bpflua_usdt_arg args[BPFLUA_USDT_MAX_ARGS];
	int nargs;
	int pad;
};

struct bpflua_usdt_location {
	unsigned long long address;        /* the probe's virtual address in the file */
	unsigned long long offset;         /* its file offset: where the uprobe goes */
	unsigned long long semaphore;      /* the semaphore's virtual address, 0: none */
	unsigned long long semaphore_offset; /* its file offset: the uprobe's ref_ctr_offset */
	const char *args;                  /* the note's argument text, "8@%rdi -4@$5" */
	struct bpflua_usdt_spec spec;
	const char *spec_error;            /* why args could not be decoded, or NULL */
};

struct bpflua_usdt_probe {
	const char *provider;
	const char *name;
	struct bpflua_usdt_location *locations;
	int nlocations;
};

struct bpflua_usdt_probes {
	const char *path;
	int machine;                       /* the ELF's e_machine: 62 x86-64, 183 arm64 */
	struct bpflua_usdt_probe *probes;
	int count;
};

/* The USDT probes of an ELF file, grouped by provider and name in note order. A file
 * without probes gives count 0. */
struct bpflua_usdt_probes *bpflua_usdt_probes_load(const char *path, char **error);
void bpflua_usdt_probes_free(struct bpflua_usdt_probes *p);
/* Decodes one argument ("8@%rdi", "8@[sp, 16]") as an ELF of that machine has it; symbol
 * addresses for rip-relative forms come from symbols_path (NULL: none) and are made relative
 * to probe_address, where the BPF side finds them (the instruction pointer at the probe). */
int bpflua_usdt_arg_parse(int machine, const char *text, const char *symbols_path,
			  unsigned long long probe_address, struct bpflua_usdt_arg *arg,
			  char **error);
/* 1 when this kernel loads and attaches programs of the feature ("kfunc", "lsm",
 * "raw_tracepoint"); otherwise 0 and *why says why (malloc'd). */
int bpflua_kernel_supports(const char *feature, char **why);

/* Builds what the cache lacks for the running kernel (vmlinux.h, the prelude PCH) so that
 * the first script compiles fast (runtime/prepare.c; `bpflua --prepare`). 0 and *dir set to
 * the cache directory, or -1 and *error. */
int bpflua_prepare(const char **dir, char **error);

/* What the cache holds (`bpflua --cache-stats`; runtime/cache_evict.c), sizes on disk. */
struct bpflua_cache_stats {
	const char *dir;
	unsigned long long max;          /* the bound (BPFLUA_CACHE_MAX); 0 when unbounded */
	unsigned long long bytes;        /* all that the bound counts */
	unsigned long long object_bytes, prelude_bytes, kernel_bytes;
	unsigned long objects, preludes, kernels;
	long long oldest, newest;        /* the objects' last use (Unix time); 0 without any */
};
int bpflua_cache_stats(struct bpflua_cache_stats *stats, char **error);
/* Removes every compiled object, prelude and kernel's vmlinux.h (`bpflua --cache-clear`);
 * *dir is the cache directory. 0, or -1 and *error. */
int bpflua_cache_clear(const char **dir, char **error);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
