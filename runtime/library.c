/* The small exported pieces of libbpflua: versions, freeing, the interrupt flag, sleeping. */
#define _GNU_SOURCE
#include "bpflua.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

const char *bpflua_version(void)
{
	return BPFLUA_VERSION;
}

const char *bpflua_libbpf_version(void)
{
	return libbpf_version_string();
}

const char *bpflua_clang_version(void)
{
	return CLANG_VERSION_STRING;
}

void bpflua_free(void *p)
{
	free(p);
}

static volatile sig_atomic_t interrupted;

int bpflua_interrupted(void)
{
	return interrupted;
}

void bpflua_set_interrupted(int value)
{
	interrupted = value;
}

int bpflua_sleep(double seconds)
{
	struct timespec left = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
	while (!interrupted && nanosleep(&left, &left) < 0 && errno == EINTR)
		;
	return interrupted ? -1 : 0;
}
