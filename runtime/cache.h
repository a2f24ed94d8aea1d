/* The cache directory that holds vmlinux.h, the prelude PCH and compiled objects.
 *
 * Whatever is in it ends up loaded into the kernel, so it is used only when it is a real
 * directory owned by the user running bpflua (root) that no one else can write. Otherwise
 * bpflua warns and works in a private temporary directory removed at exit. */
#ifndef BPFLUA_CACHE_H
#define BPFLUA_CACHE_H

#include <stddef.h>

/* The directory to use; never NULL unless even a temporary directory cannot be made. */
const char *cache_dir(void);

/* 1 when cache_dir() is the persistent cache, 0 when it is the private fallback. */
int cache_is_persistent(void);

/* dir/name, malloc'd. */
char *cache_path(const char *name);

#endif
