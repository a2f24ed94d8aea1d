/* Kernel types without kernel headers: vmlinux.h written from the running kernel's BTF. */
#ifndef BPFLUA_KERNEL_TYPES_H
#define BPFLUA_KERNEL_TYPES_H

#include "sha256.h"

/* Adds what identifies the running kernel's types to a cache key (release, build, BTF size):
 * cheap enough for every run, unlike hashing the 5 MB of BTF. */
void kernel_types_identify(struct sha256 *key);

/* Writes vmlinux.h for the running kernel to path, through tmp_path (renamed to path once
 * complete; NULL: path.tmp.<pid>). Returns 0, or -1 with *error set, naming path. */
int kernel_types_write_vmlinux_h(const char *path, const char *tmp_path, char **error);

/* Writes to path a vmlinux.h with only the kernel types that identifiers (one a line) name,
 * and what btf_dump writes with them; *types says how many were named. Returns 1 when
 * written; 0 when it is not written because the program names a type whose name the kernel
 * uses for two (btf_dump would tell them apart differently than in the full header); -1 with
 * *error set. */
int kernel_types_write_trimmed(const char *path, const char *identifiers, size_t *types,
			       char **error);

#endif
