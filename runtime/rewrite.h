/* The bcc-style source rewrite that runs before Clang.
 *
 * bcc's C has method calls on tables (`events.ringbuf_output(&e, sizeof(e), 0)`), which are
 * not C. The rewrite turns `table.method(` into `table$method(` -- the same length, so every
 * line and column Clang reports is still right for the user's text -- and writes a macro
 * `table$method(...)` per call into a prologue that expands to the generic helper for that
 * table's kind (bpf/bpflua/tables.h). Because it works on tokens, look-alikes in comments and
 * strings are left alone and calls inside the user's own #defines are rewritten too.
 *
 * It also collects the TRACEPOINT_PROBEs whose argument structs must be generated. */
#ifndef BPFLUA_REWRITE_H
#define BPFLUA_REWRITE_H

#include <stddef.h>

struct rewrite_tracepoint {
	char category[64];
	char event[128];
	int line, col;             /* of the category argument */
};

struct rewrite_result {
	char *text;                /* the rewritten source, as long as the input */
	char *prologue;            /* macro definitions to place before the source */
	struct rewrite_tracepoint *tracepoints;
	int ntracepoints;
};

/* Returns 0, or -1 with *error holding diagnostics against the user's text. */
int rewrite_source(const char *source, size_t len, const char *source_name,
		   struct rewrite_result *out, char **error);
void rewrite_result_free(struct rewrite_result *r);

#endif
