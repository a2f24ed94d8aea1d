/* Small helpers shared by libbpflua's units: formatted messages and whole-file I/O. */
#ifndef BPFLUA_UTIL_H
#define BPFLUA_UTIL_H

#include <stddef.h>

/* vasprintf that returns the string (NULL only when memory is out). */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reads a whole file; NULL with errno set on failure. The buffer has a NUL after len bytes. */
char *file_read(const char *path, size_t *len);

/* Reads what is left of an open file; as file_read. */
char *file_read_fd(int fd, size_t *len);

/* Writes a file so that readers see either nothing or all of it (temp file + rename).
 * Returns 0 or -errno. */
int file_write_atomic(const char *path, const void *data, size_t len);

/* Removes a directory and everything under it, never following links. */
void remove_tree(const char *dir);

#endif
