/* The cache's size bound: least-recently-used files go when a store takes the cache past
 * BPFLUA_CACHE_MAX (256 MiB by default), as ccache does.
 *
 * What counts: object entries, prelude PCHs (with their main file) and each kernel's
 * vmlinux.h; their size on disk. A file's time of last use is its mtime: a store sets it, a
 * hit moves it to now when it is older than CACHE_REFRESH_SECONDS (one stat per hit, a
 * utimensat at most every ten minutes per entry). A running total (the file cache-size) is
 * added to on every store and recounted from the directory when it passes the bound, when
 * it is a day old, or when it is missing; the recount then removes the oldest files until
 * the rest fills 90% of the room that the files it must keep leave under the bound (so the
 * next recount is a number of stores away). The running kernel's vmlinux.h and prelude are never
 * removed (nor any prelude used in the last CACHE_PRELUDE_GUARD_SECONDS: another process may
 * be about to compile against it), nor the entry just stored. Several processes may store at
 * once: entries are renamed into place, the total is updated under a lock, one recount runs
 * at a time, and files that vanish under a recount are passed over. */
#ifndef BPFLUA_CACHE_EVICT_H
#define BPFLUA_CACHE_EVICT_H

#include <time.h>

#define CACHE_DEFAULT_MAX (256ull << 20)
#define CACHE_REFRESH_SECONDS 600L
#define CACHE_PRELUDE_GUARD_SECONDS (2L * CACHE_REFRESH_SECONDS)

/* Parses a size: bytes, or a number with K, M, G or T (powers of 1024, "MiB" and "MB" read
 * the same); "0" is unbounded. Returns 0, or -1 for anything else. */
int cache_max_parse(const char *text, unsigned long long *bytes);

/* The bound from BPFLUA_CACHE_MAX (warns once and uses the default when it does not parse);
 * 0 when unbounded. */
unsigned long long cache_max(void);

/* After files were written into the cache (NULL-terminated paths): adds their sizes to the
 * running total and, when it is over the bound, removes the least recently used files but
 * those in keep (NULL-terminated: what was just stored, the running kernel's prelude). */
void cache_stored(const char *const *paths, const char *const *keep);

/* A hit on path: its time of last use becomes now, when it is older than
 * CACHE_REFRESH_SECONDS (not without a bound: nothing is evicted then). */
void cache_mark_used(const char *path);

/* The prelude of a kernel directory (a marker in it names the PCH), so that the kernel's
 * files can go together. */
void cache_kernel_add_prelude(const char *kernel_dir, const char *pch);

/* Removes the other kernels' directories and the preludes built for them, when none of
 * their files was used since this boot: after a kernel change, once the new kernel's
 * prelude is built. */
void cache_remove_stale_kernels(const char *kernel_dir);

/* bpflua_cache_stats and bpflua_cache_clear (bpflua.h) are here too: the counting is the
 * recount's. */

#endif
