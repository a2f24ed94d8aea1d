/* The cache's size bound (cache_evict.h): the running total, the recount that removes the
 * least recently used files, stale kernels, and what bpflua --cache-stats and --cache-clear
 * do. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "cache_evict.h"
#include "cache.h"
#include "util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOTAL_FILE "cache-size"         /* "<bytes> <time of the last recount>\n" */
#define RECOUNT_LOCK "cache-recount.lock"
#define RECOUNT_SECONDS (24L * 3600)     /* a total that others' removals left too high */
#define LOW_WATER_PERCENT 90            /* of the room, after a recount over the bound */
#define KERNEL_PRELUDE_MARK "built-"    /* kernel dir's built-prelude-<key>: a PCH made on it */

/* ---- The bound ---------------------------------------------------------------------------- */

int cache_max_parse(const char *text, unsigned long long *bytes)
{
	if (!text || !isdigit((unsigned char)text[0]))
		return -1;
	char *end;
	errno = 0;
	unsigned long long n = strtoull(text, &end, 10);
	if (errno)
		return -1;
	unsigned shift = 0;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; break;
	case 'M': shift = 20; break;
	case 'G': shift = 30; break;
	case 'T': shift = 40; break;
	case '\0': break;
	default: return -1;
	}
	if (shift) {
		end++;
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
	}
	if (*end || (shift && n > (ULLONG_MAX >> shift)))
		return -1;
	*bytes = n << shift;
	return 0;
}

static unsigned long long max_bytes = CACHE_DEFAULT_MAX;
static pthread_once_t max_once = PTHREAD_ONCE_INIT;

static void read_max(void)
{
	const char *text = getenv("BPFLUA_CACHE_MAX");
	if (!text || !*text)
		return;
	if (cache_max_parse(text, &max_bytes) < 0) {
		max_bytes = CACHE_DEFAULT_MAX;
		fprintf(stderr, "bpflua: warning: BPFLUA_CACHE_MAX=%s is not a size (bytes, or a "
				"number with K, M or G; 0 for no bound); using %llu MiB\n",
			text, CACHE_DEFAULT_MAX >> 20);
	}
}

unsigned long long cache_max(void)
{
	pthread_once(&max_once, read_max);
	return max_bytes;
}

/* ---- The running total -------------------------------------------------------------------- */

struct total {
	unsigned long long bytes;
	long long counted_at;      /* 0: never counted, the next store recounts */
};

/* Size on disk, as du counts it: a 3 KB entry takes a 4 KB block. */
static unsigned long long disk_bytes(const struct stat *st)
{
	return (unsigned long long)st->st_blocks * 512;
}

/* A file of the cache, opened and locked (flock, released by close); -1 when it cannot be
 * opened. When the file system has no flock, it goes on without the lock. */
static int open_locked(const char *name, int how)
{
	char *path = cache_path(name);
	int fd = path ? open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
	free(path);
	if (fd < 0)
		return -1;
	int rc;
	while ((rc = flock(fd, how)) < 0 && errno == EINTR)
		;
	if (rc < 0 && errno == EWOULDBLOCK) {
		close(fd);
		return -1;
	}
	return fd;
}

static void total_read(int fd, struct total *t)
{
	char buf[64];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	*t = (struct total){0, 0};
	if (n <= 0)
		return;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %lld", &t->bytes, &t->counted_at) != 2)
		*t = (struct total){0, 0};
}

static void total_write(int fd, const struct total *t)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%llu %lld\n", t->bytes, t->counted_at);
	if (pwrite(fd, buf, (size_t)n, 0) == n && ftruncate(fd, n) == 0)
		return; /* else the next store finds no total and recounts */
}

/* ---- What is in the directory ------------------------------------------------------------- */

enum entry_kind { ENTRY_OBJECT, ENTRY_PRELUDE, ENTRY_KERNEL };

struct entry {
	char *name;                /* relative to the cache directory */
	enum entry_kind kind;
	time_t used;
	unsigned long long bytes;
	int evictable;
};

struct listing {
	struct entry *entries;
	size_t n, cap;
	struct bpflua_cache_stats usage;
	unsigned long long kept_bytes;     /* what may not go */
};

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int process_exists(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* file_write_atomic's temporary (name.tmp.<pid>) of a process that died before its rename. */
static int dead_temporary(const char *name)
{
	const char *tmp = strstr(name, ".tmp.");
	if (!tmp)
		return 0;
	char *end;
	long pid = strtol(tmp + 5, &end, 10);
	return !*end && !process_exists((pid_t)pid);
}

/* 1 when keep names rel (dir/rel, or a file under dir/rel). */
static int kept(const char *const *keep, const char *dir, const char *rel)
{
	size_t dlen = strlen(dir), rlen = strlen(rel);
	for (; keep && *keep; keep++) {
		const char *k = *keep;
		if (strncmp(k, dir, dlen) != 0 || k[dlen] != '/')
			continue;
		k += dlen + 1;
		if (strncmp(k, rel, rlen) == 0 && (k[rlen] == '\0' || k[rlen] == '/'))
			return 1;
	}
	return 0;
}

static int listing_add(struct listing *l, const char *name, enum entry_kind kind,
		       const struct stat *st, int evictable)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct entry *more = realloc(l->entries, cap * sizeof(*more));
		if (!more)
			return -1;
		l->entries = more;
		l->cap = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return -1;
	l->entries[l->n++] = (struct entry){copy, kind, st->st_mtime, disk_bytes(st), evictable};
	if (!evictable)
		l->kept_bytes += disk_bytes(st);
	return 0;
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->entries[i].name);
	free(l->entries);
}

/* Everything the bound counts, and which of it may go. Temporaries of dead writers go now. */
static int list_dir(const char *dir, const char *const *keep, time_t now, struct listing *l)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	int dfd = dirfd(d);
	struct dirent *e;
	int err = 0;
	while (!err && (e = readdir(d))) {
		const char *name = e->d_name;
		int object = starts_with(name, "object-"), prelude = starts_with(name, "prelude-");
		struct stat st;
		if ((object || prelude) && dead_temporary(name)) {
			unlinkat(dfd, name, 0);
		} else if (object || prelude) {
			if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
				continue; /* gone since readdir */
			int pch = prelude && ends_with(name, ".pch");
			if (object) {
				l->usage.objects++;
				l->usage.object_bytes += disk_bytes(&st);
				if (!l->usage.oldest || st.st_mtime < l->usage.oldest)
					l->usage.oldest = st.st_mtime;
				if (st.st_mtime > l->usage.newest)
					l->usage.newest = st.st_mtime;
			} else {
				l->usage.preludes += pch;
				l->usage.prelude_bytes += disk_bytes(&st);
			}
			l->usage.bytes += disk_bytes(&st);
			/* A prelude's main file and failure stamp go with its PCH. */
			if (object || pch) {
				int recent = pch && now - st.st_mtime < CACHE_PRELUDE_GUARD_SECONDS;
				err = listing_add(l, name, object ? ENTRY_OBJECT : ENTRY_PRELUDE, &st,
						  !recent && !kept(keep, dir, name));
			}
		} else if (starts_with(name, "kernel-")) {
			char *vmlinux = str_printf("%s/vmlinux.h", name);
			if (vmlinux && fstatat(dfd, vmlinux, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode)) {
				l->usage.kernels++;
				l->usage.kernel_bytes += disk_bytes(&st);
				l->usage.bytes += disk_bytes(&st);
				int recent = now - st.st_mtime < CACHE_PRELUDE_GUARD_SECONDS;
				err = listing_add(l, vmlinux, ENTRY_KERNEL, &st,
						  !recent && !kept(keep, dir, name));
			}
			free(vmlinux);
		}
	}
	closedir(d);
	return err ? -ENOMEM : 0;
}

static int by_last_use(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->used > y->used) - (x->used < y->used);
}

/* Removes a file of the cache; returns its size on disk, 0 when it was not there. */
static unsigned long long remove_counted(int dfd, const char *name)
{
	struct stat st;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || unlinkat(dfd, name, 0) < 0)
		return 0;
	return disk_bytes(&st);
}

/* A prelude: its PCH, then its main file and failure stamps (cache.h names them). */
static unsigned long long remove_prelude(int dfd, const char *pch_name)
{
	unsigned long long freed = remove_counted(dfd, pch_name);
	size_t stem = strlen(pch_name) - strlen(".pch");
	static const char *const siblings[] = {".h", ".failed", ".failed-reported"};
	for (size_t i = 0; i < sizeof(siblings) / sizeof(siblings[0]); i++) {
		char *name = str_printf("%.*s%s", (int)stem, pch_name, siblings[i]);
		if (name)
			freed += remove_counted(dfd, name);
		free(name);
	}
	return freed;
}

/* Removes the oldest evictable entries until total is at most target. */
static void evict(const char *dir, struct listing *l, unsigned long long *total,
		  unsigned long long target)
{
	int dfd = l->n ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd < 0)
		return;
	qsort(l->entries, l->n, sizeof(*l->entries), by_last_use);
	for (size_t i = 0; i < l->n && *total > target; i++) {
		struct entry *e = &l->entries[i];
		if (!e->evictable)
			continue;
		struct stat st;
		/* Used (or replaced) since it was listed: it stays; gone: nothing to free. */
		if (fstatat(dfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			*total -= e->bytes < *total ? e->bytes : *total;
			continue;
		}
		if (st.st_mtime != e->used)
			continue;
		unsigned long long freed = e->kind == ENTRY_PRELUDE ? remove_prelude(dfd, e->name)
								    : remove_counted(dfd, e->name);
		*total -= freed < *total ? freed : *total;
	}
	close(dfd);
}

/* Counts the directory, evicts down to the low-water mark when over max (not when max is 0),
 * and sets the running total. Returns 0, -EWOULDBLOCK when another process is recounting
 * and wait is unset, or -errno. */
static int recount(unsigned long long max, const char *const *keep, int wait,
		   struct bpflua_cache_stats *usage)
{
	const char *dir = cache_dir();
	if (!dir)
		return -ENOENT;
	int lock = open_locked(RECOUNT_LOCK, wait ? LOCK_EX : LOCK_EX | LOCK_NB);
	if (lock < 0)
		return -EWOULDBLOCK;
	struct total before = {0, 0};
	int fd = open_locked(TOTAL_FILE, LOCK_EX);
	if (fd >= 0) {
		total_read(fd, &before);
		close(fd);
	}
	time_t now = time(NULL);
	struct listing l = {0};
	int err = list_dir(dir, keep, now, &l);
	unsigned long long total = l.usage.bytes;
	/* Down to 90% of the room that what must stay leaves, so that the next recount is
	 * some stores away even when the running kernel's prelude takes most of the bound. */
	if (!err && max && total > max) {
		unsigned long long room = max > l.kept_bytes ? max - l.kept_bytes : 0;
		evict(dir, &l, &total, l.kept_bytes + room / 100 * LOW_WATER_PERCENT);
	}
	if (!err) {
		/* What others stored while this counted is added on top (some of it twice: the
		 * total errs high, and recounts the sooner). */
		fd = open_locked(TOTAL_FILE, LOCK_EX);
		if (fd >= 0) {
			struct total after;
			total_read(fd, &after);
			unsigned long long since = after.bytes > before.bytes && before.counted_at
							   ? after.bytes - before.bytes : 0;
			total_write(fd, &(struct total){total + since, (long long)now});
			close(fd);
		}
	}
	if (usage) {
		*usage = l.usage;
		usage->bytes = total;
	}
	listing_free(&l);
	close(lock);
	return err;
}

/* ---- Stores and hits ---------------------------------------------------------------------- */

void cache_stored(const char *const *paths, const char *const *keep)
{
	unsigned long long max = cache_max();
	if (!max || !cache_dir() || cache_dir_is_private())
		return; /* unbounded, or a directory removed at exit */
	unsigned long long added = 0;
	for (; paths && *paths; paths++) {
		struct stat st;
		if (lstat(*paths, &st) == 0 && S_ISREG(st.st_mode))
			added += disk_bytes(&st);
	}
	int fd = open_locked(TOTAL_FILE, LOCK_EX);
	if (fd < 0)
		return;
	struct total t;
	total_read(fd, &t);
	t.bytes += added;
	total_write(fd, &t);
	close(fd);
	time_t now = time(NULL);
	if (!t.counted_at || now - t.counted_at > RECOUNT_SECONDS || t.bytes > max)
		recount(max, keep, 0, NULL);
}

void cache_mark_used(const char *path)
{
	struct stat st;
	if (cache_max() && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    time(NULL) - st.st_mtime >= CACHE_REFRESH_SECONDS)
		utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW);
}

/* ---- Kernels ------------------------------------------------------------------------------ */

void cache_kernel_add_prelude(const char *kernel_dir, const char *pch)
{
	const char *base = strrchr(pch, '/');
	base = base ? base + 1 : pch;
	size_t len = strlen(base);
	if (len < 4 || strcmp(base + len - 4, ".pch") != 0)
		return;
	char *mark = str_printf("%s/" KERNEL_PRELUDE_MARK "%.*s", kernel_dir, (int)(len - 4), base);
	if (mark) {
		int fd = open(mark, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	free(mark);
}

static time_t boot_time(void)
{
	FILE *f = fopen("/proc/stat", "re");
	char line[256];
	long long btime = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "btime %lld", &btime) == 1)
			break;
	if (f)
		fclose(f);
	return (time_t)btime;
}

/* The time a kernel directory's files were last used (its vmlinux.h, its marked PCHs), and
 * its PCHs' names (a malloc'd list, one a line). */
static time_t kernel_last_use(int dfd, const char *kernel, char **pchs)
{
	time_t used = 0;
	struct stat st;
	char *vmlinux = str_printf("%s/vmlinux.h", kernel);
	if (vmlinux && fstatat(dfd, vmlinux, &st, AT_SYMLINK_NOFOLLOW) == 0)
		used = st.st_mtime;
	free(vmlinux);
	*pchs = NULL;
	int kfd = openat(dfd, kernel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = kfd >= 0 ? fdopendir(kfd) : NULL;
	if (!d) {
		if (kfd >= 0)
			close(kfd);
		return used;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!starts_with(e->d_name, KERNEL_PRELUDE_MARK "prelude-") || strchr(e->d_name, '/'))
			continue;
		char *pch = str_printf("%s.pch", e->d_name + strlen(KERNEL_PRELUDE_MARK));
		if (pch && fstatat(dfd, pch, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_mtime > used)
			used = st.st_mtime;
		char *more = pch ? str_printf("%s%s\n", *pchs ? *pchs : "", pch) : NULL;
		free(pch);
		if (more) {
			free(*pchs);
			*pchs = more;
		}
	}
	closedir(d);
	return used;
}

void cache_remove_stale_kernels(const char *kernel_dir)
{
	const char *dir = cache_dir();
	const char *own = strrchr(kernel_dir, '/');
	time_t booted = boot_time();
	DIR *d = dir && own && booted ? opendir(dir) : NULL;
	if (!d)
		return;
	int dfd = dirfd(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!starts_with(e->d_name, "kernel-") || !strcmp(e->d_name, own + 1))
			continue;
		struct stat st;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		char *pchs;
		/* Used since boot: another bpflua (another version) on this kernel uses it. */
		if (kernel_last_use(dfd, e->d_name, &pchs) >= booted) {
			free(pchs);
			continue;
		}
		for (char *line = pchs, *nl; line && *line; line = nl + 1) {
			nl = strchr(line, '\n');
			*nl = '\0';
			remove_prelude(dfd, line);
		}
		free(pchs);
		char *path = str_printf("%s/%s", dir, e->d_name);
		if (path)
			remove_tree(path);
		free(path);
	}
	closedir(d);
}

/* ---- bpflua --cache-stats, --cache-clear ------------------------------------------------- */

int bpflua_cache_stats(struct bpflua_cache_stats *stats, char **error)
{
	memset(stats, 0, sizeof(*stats));
	*error = NULL;
	stats->dir = cache_dir();
	stats->max = cache_max();
	int err = stats->dir ? recount(0, NULL, 1, stats) : -ENOENT;
	stats->dir = cache_dir();
	stats->max = cache_max();
	if (err) {
		*error = str_printf("cannot read the cache %s: %s", stats->dir ? stats->dir : "",
				    strerror(-err));
		return -1;
	}
	return 0;
}

int bpflua_cache_clear(const char **dir, char **error)
{
	*error = NULL;
	*dir = cache_dir();
	if (!*dir) {
		*error = str_printf("there is no cache directory");
		return -1;
	}
	int lock = open_locked(RECOUNT_LOCK, LOCK_EX);
	DIR *d = opendir(*dir);
	int err = d ? 0 : -errno;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *name = e->d_name;
		struct stat st;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (starts_with(name, "kernel-") && S_ISDIR(st.st_mode)) {
			char *path = str_printf("%s/%s", *dir, name);
			if (path)
				remove_tree(path);
			free(path);
		} else if ((starts_with(name, "object-") || starts_with(name, "prelude-") ||
			    !strcmp(name, TOTAL_FILE)) &&
			   unlinkat(dirfd(d), name, 0) < 0 && errno != ENOENT && !err) {
			err = -errno;
		}
	}
	if (d)
		closedir(d);
	if (lock >= 0)
		close(lock);
	if (err) {
		*error = str_printf("cannot clear the cache %s: %s", *dir, strerror(-err));
		return -1;
	}
	return 0;
}
