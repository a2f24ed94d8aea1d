/* The interface between libbpflua and its in-process Clang.
 *
 * The Clang half lives in its own shared object (libbpflua-clang.so) that libbpflua dlopens
 * only when a compile is needed, so a run that hits the object cache never maps LLVM. */
#ifndef BPFLUA_CLANG_COMPILER_H
#define BPFLUA_CLANG_COMPILER_H

#include <stddef.h>

#define BPFLUA_CLANG_ENTRY "bpflua_clang_run"

struct bpflua_clang_request {
	const char *source;        /* the main file's contents, held in memory */
	size_t source_len;
	const char *source_name;   /* the name the main file is given (it never exists on disk) */
	const char *const *args;   /* driver options besides input and output, e.g. -I, -D */
	int nargs;
	const char *pch_path;      /* non-NULL: compile source as a header into a PCH at this path */
};

struct bpflua_clang_result {
	char *object;              /* malloc'd BPF ELF (not set when building a PCH) */
	size_t object_len;
	char *metadata;            /* malloc'd: what the AST says about the program (event types) */
	char *diagnostics;         /* malloc'd; one per line: "level\tfile\tline\tcol\tmessage" */
	int errors;                /* number of error-level diagnostics */
};

/* Returns 0 when the compile succeeded; otherwise diagnostics says why. */
typedef int (*bpflua_clang_run_fn)(const struct bpflua_clang_request *req,
				   struct bpflua_clang_result *res);

#endif
