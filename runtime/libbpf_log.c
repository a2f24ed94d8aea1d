/* libbpf's messages during bpflua's own calls into libbpf.
 *
 * libbpf has one print hook for the whole process, and it belongs to the application that
 * embeds bpflua. bpflua installs its own hook only while one of its calls runs, to capture the
 * warnings that explain a failure (they go into the error message), and puts the previous hook
 * back when the last such call ends. A message from another thread meanwhile goes on to the
 * previous hook. With BPFLUA_DEBUG set, every message of bpflua's calls is also printed on
 * stderr. (An application that sets its own hook while a bpflua call runs has it replaced by
 * the one from before at the end of that call.) */
#define _GNU_SOURCE
#include "libbpf_log.h"

#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static int captures;                  /* in progress, on every thread */
static libbpf_print_fn_t application_hook;
static __thread struct libbpf_log *innermost;

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	struct libbpf_log *log = innermost;
	if (!log) {
		libbpf_print_fn_t forward = application_hook;
		return forward ? forward(level, fmt, ap) : 0;
	}
	int printed = 0;
	if (getenv("BPFLUA_DEBUG")) {
		va_list copy;
		va_copy(copy, ap);
		printed = vfprintf(stderr, fmt, copy);
		va_end(copy);
	}
	if (level != LIBBPF_DEBUG && log->stream)
		printed = vfprintf(log->stream, fmt, ap);
	return printed;
}

void libbpf_log_begin(struct libbpf_log *log)
{
	log->text = NULL;
	log->len = 0;
	log->stream = open_memstream(&log->text, &log->len); /* NULL: nothing is captured */
	log->outer = innermost;
	innermost = log;
	pthread_mutex_lock(&hook_lock);
	if (captures++ == 0)
		application_hook = libbpf_set_print(print_libbpf);
	pthread_mutex_unlock(&hook_lock);
}

const char *libbpf_log_text(struct libbpf_log *log)
{
	if (log->stream)
		fflush(log->stream);
	return log->text ? log->text : "";
}

void libbpf_log_end(struct libbpf_log *log)
{
	pthread_mutex_lock(&hook_lock);
	if (--captures == 0)
		libbpf_set_print(application_hook);
	pthread_mutex_unlock(&hook_lock);
	innermost = log->outer;
	if (log->stream)
		fclose(log->stream);
	free(log->text);
	log->stream = NULL;
	log->text = NULL;
}
