/* Error messages that point into the user's own text, as compilers print them:
 *   <text>:3:9: error: message
 *       3 | int x = y;
 *         |         ^ */
#ifndef BPFLUA_DIAGNOSTIC_H
#define BPFLUA_DIAGNOSTIC_H

#include <stddef.h>
#include <stdio.h>

/* Appends one diagnostic to out. line and col are 1-based; line 0 means no position. */
void diagnostic_print(FILE *out, const char *source_name, const char *source, size_t source_len,
		      int line, int col, const char *level, const char *message);

#endif
