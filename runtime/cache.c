#define _GNU_SOURCE
#include "cache.h"
#include "cache_evict.h"
#include "sha256.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CACHE_DIR "/var/cache/bpflua"
#define ENTRY_MAGIC "bpflua-object 1"

/* ---- The directory ------------------------------------------------------------------------ */

static char chosen_dir[PATH_MAX];
static pid_t private_dir_owner; /* set when chosen_dir is this run's own, removed at exit */
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

/* Why a directory cannot be used, or NULL when it can. */
static const char *unusable_reason(const char *dir, char *why, size_t whylen)
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
	/* A read-only mount (root's permissions pass every other check). */
	if (access(dir, W_OK) < 0) {
		snprintf(why, whylen, "it cannot be written (%s)", strerror(errno));
		return why;
	}
	return NULL;
}

static void remove_private_dir(void)
{
	/* A forked child that calls exit() must not take the directory from its parent. */
	if (private_dir_owner == getpid())
		remove_tree(chosen_dir);
}

static int process_exists(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* Private directories of runs that were killed before their exit handler ran. */
static void remove_dead_private_dirs(const char *tmp)
{
	char prefix[64];
	int plen = snprintf(prefix, sizeof(prefix), "bpflua-%u.", (unsigned)geteuid());
	DIR *d = opendir(tmp);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + plen, &end, 10);
		if (*end != '.' || process_exists((pid_t)pid))
			continue;
		char *path = str_printf("%s/%s", tmp, e->d_name);
		struct stat st;
		if (path && lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid())
			remove_tree(path);
		free(path);
	}
	closedir(d);
}

static int use_dir(const char *dir)
{
	if (strlen(dir) >= sizeof(chosen_dir))
		return 0;
	strcpy(chosen_dir, dir);
	return 1;
}

static void choose_dir(void)
{
	const char *dir = getenv("BPFLUA_CACHE_DIR");
	if (!dir || !*dir)
		dir = DEFAULT_CACHE_DIR;
	mkdir(dir, 0700); /* when this fails, unusable_reason says why below */
	char why[160];
	const char *reason = unusable_reason(dir, why, sizeof(why));
	if (!reason && use_dir(dir))
		return;
	const char *tmp = getenv("TMPDIR");
	if (!tmp || !*tmp)
		tmp = "/tmp";
	char *shared = str_printf("%s/bpflua-%u", tmp, (unsigned)geteuid());
	char shared_why[160];
	const char *shared_reason = "out of memory";
	if (shared) {
		mkdir(shared, 0700);
		shared_reason = unusable_reason(shared, shared_why, sizeof(shared_why));
	}
	if (!shared_reason && use_dir(shared)) {
		fprintf(stderr, "bpflua: warning: not using cache directory %s: %s; using %s "
				"instead\n",
			dir, reason ? reason : "its path is too long", shared);
		free(shared);
		return;
	}
	remove_dead_private_dirs(tmp);
	snprintf(chosen_dir, sizeof(chosen_dir), "%s/bpflua-%u.%d.XXXXXX", tmp,
		 (unsigned)geteuid(), (int)getpid());
	if (!mkdtemp(chosen_dir)) {
		chosen_dir[0] = '\0';
	} else {
		private_dir_owner = getpid();
		atexit(remove_private_dir);
	}
	fprintf(stderr, "bpflua: warning: not using cache directory %s: %s, nor %s: %s; "
			"compiling in %s, removed at exit\n",
		dir, reason ? reason : "its path is too long", shared ? shared : "", shared_reason,
		chosen_dir[0] ? chosen_dir : "(none)");
	free(shared);
}

const char *cache_dir(void)
{
	pthread_once(&chosen_once, choose_dir);
	return chosen_dir[0] ? chosen_dir : NULL;
}

int cache_dir_is_private(void)
{
	return cache_dir() && private_dir_owner != 0;
}

char *cache_path(const char *name)
{
	const char *dir = cache_dir();
	return dir ? str_printf("%s/%s", dir, name) : NULL;
}

#define WORK_DIR_PREFIX "work-"

char *cache_work_dir(pid_t pid)
{
	const char *dir = cache_dir();
	return dir ? str_printf("%s/" WORK_DIR_PREFIX "%d", dir, (int)pid) : NULL;
}

void cache_remove_work_dir(pid_t pid)
{
	char *path = cache_work_dir(pid);
	if (path)
		remove_tree(path);
	free(path);
}

void cache_remove_dead_work_dirs(void)
{
	const char *dir = cache_dir();
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, WORK_DIR_PREFIX, strlen(WORK_DIR_PREFIX)) != 0)
			continue;
		char *end;
		long owner = strtol(e->d_name + strlen(WORK_DIR_PREFIX), &end, 10);
		if (*end || process_exists((pid_t)owner))
			continue;
		char *path = str_printf("%s/%s", dir, e->d_name);
		if (path)
			remove_tree(path);
		free(path);
	}
	closedir(d);
}

/* ---- Reading only regular files ----------------------------------------------------------- */

/* O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer. */
static int open_regular(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

char *cache_read_regular(const char *path, size_t *len)
{
	int fd = open_regular(path);
	if (fd < 0)
		return NULL;
	char *data = file_read_fd(fd, len);
	int saved = errno;
	close(fd);
	errno = saved;
	return data;
}

int cache_is_regular(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int cache_hash_file(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* headers may be links */
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	struct sha256 h;
	sha256_init(&h);
	char buf[65536];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			return -1;
		}
		sha256_update(&h, buf, (size_t)n);
	}
	close(fd);
	sha256_hex(&h, hex);
	return 0;
}

/* ---- Object entries ------------------------------------------------------------------------
 *
 * One file per key, written at once (temp file + rename), text lines around two blobs:
 *   bpflua-object 1 <key>
 *   deps <n>
 *   <sha256 hex> <path>          (n lines: the headers the object was compiled from)
 *   metadata <length>
 *   <bytes>
 *   object <length>
 *   <bytes>
 *   sha256 <hex of every byte before this line>
 * The key inside guards against a file copied or renamed under another key; the checksum
 * against truncation and garbage. */

/* The bound: the new entry counts, and stays while older files go (and those in keep). */
static void cache_stored_entry(const char *path, const char *const *keep)
{
	const char *stored[] = {path, NULL};
	const char *kept[8] = {path};
	for (int i = 0; keep && keep[i] && i < 6; i++)
		kept[i + 1] = keep[i];
	cache_stored(stored, kept);
}

static char *entry_path(const char *key)
{
	char name[128];
	snprintf(name, sizeof(name), "object-%.64s.entry", key);
	return cache_path(name);
}

struct cursor {
	const char *p, *end;
};

/* The next line, without its newline, or NULL. */
static const char *next_line(struct cursor *c, size_t *len)
{
	const char *nl = memchr(c->p, '\n', (size_t)(c->end - c->p));
	if (!nl)
		return NULL;
	const char *line = c->p;
	*len = (size_t)(nl - line);
	c->p = nl + 1;
	return line;
}

/* "<word> <number>\n", the number at most max. */
static int next_count(struct cursor *c, const char *word, unsigned long long max,
		      unsigned long long *value)
{
	size_t len, wlen = strlen(word);
	const char *line = next_line(c, &len);
	if (!line || len <= wlen + 1 || len > wlen + 21 || memcmp(line, word, wlen) != 0 ||
	    line[wlen] != ' ')
		return -1;
	char digits[24];
	memcpy(digits, line + wlen + 1, len - wlen - 1);
	digits[len - wlen - 1] = '\0';
	char *end;
	errno = 0;
	*value = strtoull(digits, &end, 10);
	return *end || errno || digits[0] == '-' || *value > max ? -1 : 0;
}

/* A blob of the given length followed by a newline. */
static const char *next_blob(struct cursor *c, unsigned long long len)
{
	if (len >= (unsigned long long)(c->end - c->p) || c->p[len] != '\n')
		return NULL;
	const char *blob = c->p;
	c->p += len + 1;
	return blob;
}

/* 1: valid and current; 0: valid but a header changed; -1: not a valid entry for key. */
static int entry_check(const char *key, const char *data, size_t len, struct cache_object *obj)
{
	struct cursor c = {data, data + len};
	size_t n;
	const char *line = next_line(&c, &n);
	char expect[128];
	int elen = snprintf(expect, sizeof(expect), ENTRY_MAGIC " %s", key);
	if (!line || n != (size_t)elen || memcmp(line, expect, n) != 0)
		return -1;
	/* The checksum line ends the file: check it before believing anything else. */
	if (len < 72 || data[len - 1] != '\n')
		return -1;
	const char *sum_line = data + len - 72;
	if (memcmp(sum_line, "sha256 ", 7) != 0)
		return -1;
	struct sha256 h;
	char hex[65];
	sha256_init(&h);
	sha256_update(&h, data, (size_t)(sum_line - data));
	sha256_hex(&h, hex);
	if (memcmp(sum_line + 7, hex, 64) != 0)
		return -1;
	c.end = sum_line;

	unsigned long long ndeps, mlen, olen;
	if (next_count(&c, "deps", 100000, &ndeps) < 0)
		return -1;
	int current = 1;
	for (unsigned long long i = 0; i < ndeps; i++) {
		line = next_line(&c, &n);
		if (!line || n < 66 || line[64] != ' ')
			return -1;
		char *path = strndup(line + 65, n - 65);
		if (!path)
			return -1;
		/* A header that changed, vanished or became something else: recompile. */
		if (current && (cache_hash_file(path, hex) < 0 || memcmp(hex, line, 64) != 0))
			current = 0;
		free(path);
	}
	const char *metadata, *object;
	if (next_count(&c, "metadata", SIZE_MAX / 2, &mlen) < 0 ||
	    !(metadata = next_blob(&c, mlen)) ||
	    next_count(&c, "object", SIZE_MAX / 2, &olen) < 0 || !(object = next_blob(&c, olen)) ||
	    c.p != c.end || memchr(metadata, '\0', mlen))
		return -1;
	if (!current)
		return 0;
	obj->metadata = strndup(metadata, mlen);
	obj->object = malloc(olen ? olen : 1);
	if (!obj->metadata || !obj->object) {
		free(obj->metadata);
		free(obj->object);
		return 0;
	}
	memcpy(obj->object, object, olen);
	obj->object_len = olen;
	return 1;
}

int cache_object_get(const char *key, struct cache_object *obj)
{
	memset(obj, 0, sizeof(*obj));
	char *path = entry_path(key);
	if (!path)
		return 0;
	size_t len = 0;
	char *data = cache_read_regular(path, &len);
	int found = 0;
	if (data)
		found = entry_check(key, data, len, obj);
	/* Whatever is there and is not a current entry goes (a link, a FIFO, garbage, an old
	 * entry): the compile that follows writes a new one. */
	if (found != 1 && (data || errno != ENOENT))
		unlink(path);
	if (found == 1)
		cache_mark_used(path);
	free(data);
	free(path);
	return found == 1;
}

int cache_object_put(const char *key, const struct cache_dependency *deps, int ndeps,
		     const char *metadata, const char *object, size_t object_len,
		     const char *const *keep)
{
	char *path = entry_path(key);
	char *data = NULL;
	size_t len = 0;
	FILE *out = path ? open_memstream(&data, &len) : NULL;
	if (!out) {
		free(path);
		return -ENOMEM;
	}
	fprintf(out, ENTRY_MAGIC " %s\ndeps %d\n", key, ndeps);
	int err = 0;
	for (int i = 0; i < ndeps; i++) {
		/* A name with a newline cannot be written down: then there is no entry. */
		if (strchr(deps[i].path, '\n'))
			err = -EINVAL;
		fprintf(out, "%s %s\n", deps[i].hash, deps[i].path);
	}
	size_t mlen = strlen(metadata);
	fprintf(out, "metadata %zu\n", mlen);
	fwrite(metadata, 1, mlen, out);
	fprintf(out, "\nobject %zu\n", object_len);
	fwrite(object, 1, object_len, out);
	fputc('\n', out);
	if (fclose(out) != 0 || !data)
		err = -ENOMEM;
	if (!err) {
		struct sha256 h;
		char hex[65];
		sha256_init(&h);
		sha256_update(&h, data, len);
		sha256_hex(&h, hex);
		char sum_line[73];
		snprintf(sum_line, sizeof(sum_line), "sha256 %s\n", hex);
		char *whole = malloc(len + 72);
		if (whole) {
			memcpy(whole, data, len);
			memcpy(whole + len, sum_line, 72);
			err = file_write_atomic(path, whole, len + 72);
			free(whole);
			if (!err)
				cache_stored_entry(path, keep);
		} else {
			err = -ENOMEM;
		}
	}
	free(data);
	free(path);
	return err;
}
