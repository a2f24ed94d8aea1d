/* A compile job as the compiler's process sees it (compile_child.c), and the records it sends
 * back to bpflua_compile (compile.c) through compiler_process.c:
 *   REPLY_STAGE       what it is doing now, for the message should it die there
 *                     ("compiling <text>", "precompiling bpflua's prelude (...)")
 *   REPLY_ERROR       an error line that is not Clang's ("cannot write ...: ...")
 *   REPLY_DIAGNOSTIC  a Clang diagnostic: level NUL file NUL line NUL col NUL message
 *   REPLY_DEPENDENCY  a file the preprocessor read: its sha256 (64 hex digits, or none when
 *                     it could not be read), a space, its path
 *   REPLY_METADATA, REPLY_OBJECT  the metadata and the ELF, only when the compile succeeded */
#ifndef BPFLUA_COMPILE_JOB_H
#define BPFLUA_COMPILE_JOB_H

#include "bpflua.h"

#include <stddef.h>

#define REPLY_STAGE 'S'
#define REPLY_ERROR 'M'
#define REPLY_DIAGNOSTIC 'D'
#define REPLY_DEPENDENCY 'P'
#define REPLY_METADATA 'T'
#define REPLY_OBJECT 'O'

struct compile_job {
	const struct bpflua_compile_opts *opts;
	char *unit;                 /* the translation unit handed to Clang */
	size_t unit_len;
	const char **args;          /* base args for Clang, the PCH's too (user flags are added) */
	int nargs;
	char *kernel_dir, *vmlinux, *pch, *prelude_main; /* in the cache, for this kernel */
	const char *clang_lib;      /* the plugin to dlopen */
	int reply;                  /* where the records go */
	int full_prelude;           /* build the prelude PCH before compiling, never trim */
};

/* Runs in the compiler's process (the fn of compiler_process_run): loads the plugin, builds
 * the prelude PCH if it is missing, compiles, and sends the records. Returns 0 when it sent
 * an object. */
int compile_job_run(void *job, int reply);

/* bpflua_compile, but one that builds the prelude PCH for this kernel first when it is
 * missing (bpflua_prepare), where bpflua_compile would compile without it. */
struct bpflua_compiled *compile_with_full_prelude(const struct bpflua_compile_opts *opts,
						  char **error);

#endif
