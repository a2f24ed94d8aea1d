/* Error messages that point into the user's own text, as compilers print them:
 *   <text>:3:9: error: message
 *       3 | int x = y;
 *         |         ^ */
#ifndef BPFLUA_DIAGNOSTIC_H
#define BPFLUA_DIAGNOSTIC_H

#include <stddef.h>
#include <stdio.h>

/* The text diagnostics point into: the user's own, before any rewrite. */
struct diagnostic_source {
	const char *name;
	const char *text;
	size_t len;
};

/* One diagnostic from the compiler: file "" when it has no position. */
struct diagnostic {
	const char *level;
	const char *file;
	int line, col;
	const char *message;
};

/* Appends one diagnostic to out. line and col are 1-based; line 0 means no position. */
void diagnostic_print(FILE *out, const char *source_name, const char *source, size_t source_len,
		      int line, int col, const char *level, const char *message);

/* Appends a compiler's diagnostic: with the offending line when it falls in the user's text,
 * as file:line:col when it falls in a header, and bare when it has no position. */
void diagnostic_report(FILE *out, const struct diagnostic_source *src, const struct diagnostic *d);

#endif
