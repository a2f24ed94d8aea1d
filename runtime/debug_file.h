/* Where the separate debug file of a stripped ELF file is (debug_file.c). */
#ifndef BPFLUA_DEBUG_FILE_H
#define BPFLUA_DEBUG_FILE_H

#include <libelf.h>

/* The path of the debug file that belongs to elf, opened from root + path (root is "" or the
 * directory a process sees as /, e.g. /proc/PID/root), malloc'd; NULL when there is none. */
char *debug_file_find(Elf *elf, const char *root, const char *path);

#endif
