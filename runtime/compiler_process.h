/* Running the compiler where its crashes cannot reach the host.
 *
 * Clang and LLVM keep global state between compiles (a second CO-RE compile in one process
 * has crashed LLVM's BPF backend) and end their process on a stack overflow, an assertion or
 * a full disk. So every compile runs in a fresh child process, forked for it: the child
 * dlopens the compiler, compiles, writes its results into a pipe as records, and exits. The
 * host never maps LLVM; whatever the child does (crash, abort, hang past the time-out,
 * Ctrl-C) comes back as a message.
 *
 * Why fork per compile rather than a long-lived compile server: it needs no process that
 * outlives the call (nothing for an embedding program to find among its children, nothing to
 * restart), and it costs what an in-process compile cost anyway, since the child's dlopen of
 * the compiler (~20 ms) is what the host's first compile paid before (scripts/bench/startup.lua
 * measures the warm path). The child is reaped with waitpid on its own pid only; no signal
 * handler is installed. One that has sent its whole result is reaped a moment later
 * (compiler_process_reap), so the caller loads the object while the child unmaps LLVM. */
#ifndef BPFLUA_COMPILER_PROCESS_H
#define BPFLUA_COMPILER_PROCESS_H

#include <stddef.h>
#include <sys/types.h>

/* What the child wrote (all of it when it ended normally, what it got to otherwise). */
struct compiler_process_output {
	char *records;      /* malloc'd; read them with record_next */
	size_t len;
};

/* Runs fn(arg, fd) in a child process, fd being where it writes records (record_write). The
 * child's stderr is kept and passed on to ours when it succeeds. Returns 0 when fn returned
 * (its records are in *out), or -1 with *failure saying what happened to the child: a signal
 * (by name), a fatal LLVM error, the time-out (BPFLUA_COMPILE_TIMEOUT seconds, 60 by default)
 * or an interrupt (bpflua_interrupted()). *pid is the child's pid either way, for cleaning up
 * after it.
 *
 * Test hook: BPFLUA_COMPILER_CRASH_FOR_TEST=abort|segv|hang|fatal makes the child do that
 * before compiling (used by spec/compiler_isolation_spec.lua; the host ignores it). */
int compiler_process_run(int (*fn)(void *arg, int fd), void *arg,
			 struct compiler_process_output *out, pid_t *pid, char **failure);

/* Reaps the children of compiles that have returned (a child that sent everything may still
 * be unmapping LLVM when its compile returns). bpflua_compiled_free calls it. */
void compiler_process_reap(void);

/* Records: a one-byte tag, a 32-bit length in host order, then the bytes. */
int record_write(int fd, char tag, const void *data, size_t len);
/* The record at *pos; advances *pos. Returns 0, or -1 at the end or on a short record. */
int record_next(const struct compiler_process_output *out, size_t *pos, char *tag,
		const char **data, size_t *len);

#endif
