/* The cache: the directory that holds vmlinux.h, the prelude PCH and compiled objects, and
 * the object entries in it.
 *
 * Whatever is in it ends up loaded into the kernel, so a directory is used only when it is a
 * real directory owned by the user running bpflua (root) that no one else can write, and
 * that can be written. Otherwise bpflua warns and uses $TMPDIR/bpflua-<uid> (/tmp by
 * default), held to the same rules and reused by later runs, so a fallback run does not
 * rebuild the PCH each time nor leave a directory behind per run (not even when killed).
 * Only when that one is not trustworthy either does a run make a private directory of its
 * own, removed at exit (and by a later run, if this one was killed first).
 *
 * Entries are read only from regular files opened without following links, and only when
 * their checksum, their key and the contents of every header they were compiled from still
 * match; anything else is removed and the object compiled again. */
#ifndef BPFLUA_CACHE_H
#define BPFLUA_CACHE_H

#include <stddef.h>
#include <sys/types.h>

/* The directory to use; never NULL unless even a temporary directory cannot be made. */
const char *cache_dir(void);

/* 1 when the directory is this run's own, removed at exit: nothing built in it outlives
 * the run. */
int cache_dir_is_private(void);

/* dir/name, malloc'd. */
char *cache_path(const char *name);

/* A file the compiler read, by content. */
struct cache_dependency {
	char *path;
	char hash[65];             /* sha256 of its contents, hex */
};

struct cache_object {
	char *object;              /* the BPF ELF */
	size_t object_len;
	char *metadata;            /* NUL-terminated */
};

/* Looks key up. Returns 1 and fills *obj (malloc'd parts) on a verified hit, 0 on a miss.
 * An entry that fails verification is removed. */
int cache_object_get(const char *key, struct cache_object *obj);

/* Stores an entry for key (atomically). Returns 0 or -errno; a failure leaves no entry. The
 * cache's bound then applies (cache_evict.h); files in keep (NULL-terminated, at most six:
 * the running kernel's prelude) are not evicted. */
int cache_object_put(const char *key, const struct cache_dependency *deps, int ndeps,
		     const char *metadata, const char *object, size_t object_len,
		     const char *const *keep);

/* sha256 of a regular file's contents, as hex. Returns 0, or -1 (not a regular file, or
 * unreadable). Never blocks on a FIFO. */
int cache_hash_file(const char *path, char hex[65]);

/* Reads a regular file (not a link, FIFO or device). NULL with errno set otherwise. */
char *cache_read_regular(const char *path, size_t *len);

/* 1 when path is a regular file (not a link to one). */
int cache_is_regular(const char *path);

/* A directory of the cache for one compiler process (pid) to write its temporaries in
 * (a PCH, vmlinux.h) before renaming them into place, malloc'd; whatever a process that
 * died leaves there goes with the directory. */
char *cache_work_dir(pid_t pid);

void cache_remove_work_dir(pid_t pid);

/* Removes the work directories of processes that no longer exist (killed mid-compile). */
void cache_remove_dead_work_dirs(void);

#endif
