/* The interface between libbpflua and its Clang half.
 *
 * The Clang half lives in its own shared object (libbpflua-clang.so). libbpflua never maps it
 * itself: a compile runs in a child process (compiler_process.c) that dlopens it, so a run
 * that hits the object cache never loads LLVM and a crash inside LLVM ends only that child. */
#ifndef BPFLUA_CLANG_COMPILER_H
#define BPFLUA_CLANG_COMPILER_H

#include <stddef.h>
#include <stdlib.h>

#define BPFLUA_CLANG_ENTRY "bpflua_clang_run"

struct bpflua_clang_request {
	const char *source;        /* the main file's contents, held in memory */
	size_t source_len;
	const char *source_name;   /* the name the main file is given (it never exists on disk) */
	const char *const *args;   /* driver options besides input and output, e.g. -I, -D */
	int nargs;
	const char *pch_path;      /* non-NULL: compile source as a header into a PCH at this path */
	int list_identifiers;      /* preprocess only: res->metadata gets the identifiers the
				    * parser would see (after macro expansion), one a line */
};

/* One diagnostic, positioned where Clang presumes it (after #line), file "" when it has
 * no position. */
struct bpflua_clang_diagnostic {
	const char *level;         /* "warning" or "error" (static) */
	char *file;                /* malloc'd */
	int line, col;             /* 1-based; 0 when there is no position */
	char *message;             /* malloc'd, one line */
};

struct bpflua_clang_result {
	char *object;              /* malloc'd BPF ELF (not set when building a PCH) */
	size_t object_len;
	char *metadata;            /* malloc'd: what the AST says about the program (event types) */
	struct bpflua_clang_diagnostic *diagnostics; /* malloc'd array */
	int ndiagnostics;
	int errors;                /* number of error-level diagnostics */
	char **dependencies;       /* malloc'd array of malloc'd paths: every file the
				    * preprocessor read for the main file (not the PCH's inputs,
				    * nor the in-memory main file itself) */
	int ndependencies;
	int vmlinux_h_named;       /* list_identifiers: a file other than bpflua/prelude.h
				    * #includes or __has_include's vmlinux.h */
};

/* Returns 0 when the compile succeeded; otherwise diagnostics say why. The caller frees the
 * result with bpflua_clang_result_free. A fatal LLVM error
 * (report_fatal_error, e.g. a full disk under the PCH) prints "LLVM ERROR: ..." on stderr and
 * ends the process with BPFLUA_CLANG_FATAL_STATUS instead of running exit handlers. */
typedef int (*bpflua_clang_run_fn)(const struct bpflua_clang_request *req,
				   struct bpflua_clang_result *res);

#define BPFLUA_CLANG_FATAL_STATUS 70

/* Every part is malloc'd (the plugin and libbpflua share one libc). */
static inline void bpflua_clang_result_free(struct bpflua_clang_result *res)
{
	for (int i = 0; i < res->ndiagnostics; i++) {
		free(res->diagnostics[i].file);
		free(res->diagnostics[i].message);
	}
	for (int i = 0; i < res->ndependencies; i++)
		free(res->dependencies[i]);
	free(res->diagnostics);
	free(res->dependencies);
	free(res->object);
	free(res->metadata);
}

#endif
