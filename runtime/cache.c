#define _GNU_SOURCE
#include "cache.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CACHE_DIR "/var/cache/bpflua"

static char chosen_dir[PATH_MAX];
static int persistent;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

/* Why a directory cannot be trusted, or NULL when it can. */
static const char *untrusted_reason(const char *dir, char *why, size_t whylen)
{
	struct stat st;
	if (lstat(dir, &st) < 0)
		return snprintf(why, whylen, "%s", strerror(errno)), why;
	if (S_ISLNK(st.st_mode))
		return "it is a symbolic link";
	if (!S_ISDIR(st.st_mode))
		return "it is not a directory";
	if (st.st_uid != geteuid()) {
		snprintf(why, whylen, "it is owned by uid %u, not by uid %u", (unsigned)st.st_uid,
			 (unsigned)geteuid());
		return why;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(why, whylen, "others can write it (mode %04o)", st.st_mode & 07777);
		return why;
	}
	return NULL;
}

static void remove_tree(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *p = str_printf("%s/%s", dir, e->d_name);
			if (p)
				unlink(p);
			free(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static void remove_private_dir(void)
{
	remove_tree(chosen_dir);
}

static void choose_dir(void)
{
	const char *dir = getenv("BPFLUA_CACHE_DIR");
	if (!dir || !*dir)
		dir = DEFAULT_CACHE_DIR;
	mkdir(dir, 0700); /* when this fails, untrusted_reason says why below */
	char why[128];
	const char *reason = untrusted_reason(dir, why, sizeof(why));
	if (!reason && strlen(dir) < sizeof(chosen_dir)) {
		strcpy(chosen_dir, dir);
		persistent = 1;
		return;
	}
	fprintf(stderr, "bpflua: warning: not using cache directory %s: %s; "
			"compiling in a private temporary directory instead\n",
		dir, reason ? reason : "its path is too long");
	const char *tmp = getenv("TMPDIR");
	snprintf(chosen_dir, sizeof(chosen_dir), "%s/bpflua-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(chosen_dir)) {
		chosen_dir[0] = '\0';
		return;
	}
	atexit(remove_private_dir);
}

const char *cache_dir(void)
{
	pthread_once(&chosen_once, choose_dir);
	return chosen_dir[0] ? chosen_dir : NULL;
}

int cache_is_persistent(void)
{
	pthread_once(&chosen_once, choose_dir);
	return persistent;
}

char *cache_path(const char *name)
{
	const char *dir = cache_dir();
	return dir ? str_printf("%s/%s", dir, name) : NULL;
}
