/* libbpf's messages during bpflua's own calls into libbpf (runtime/libbpf_log.c). */
#ifndef BPFLUA_LIBBPF_LOG_H
#define BPFLUA_LIBBPF_LOG_H

#include <stddef.h>
#include <stdio.h>

/* What libbpf said between libbpf_log_begin and libbpf_log_end on this thread: its warnings,
 * which name what failed (its debug messages are left out). Captures nest. */
struct libbpf_log {
	FILE *stream;
	char *text;
	size_t len;
	struct libbpf_log *outer;
};

void libbpf_log_begin(struct libbpf_log *log);
/* The text so far; "" when libbpf said nothing. Valid until the next call on log. */
const char *libbpf_log_text(struct libbpf_log *log);
void libbpf_log_end(struct libbpf_log *log);

#endif
