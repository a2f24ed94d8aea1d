/* A program's own definitions of kernel structs, kept apart from vmlinux.h's.
 *
 * bcc programs define kernel structs that the kernel's headers do not export (struct
 * nameidata, struct mnt_namespace, ...). With bcc they were the only definition; in bpflua,
 * vmlinux.h already has every struct of the kernel, and a second definition is an error.
 * So a struct or union that the program defines and the kernel's BTF also has is renamed
 * for the program alone: a `#define NAME NAME___bpflua` placed after the prelude (vmlinux.h
 * is already parsed, so the kernel's type keeps its name) and before the program's text.
 * Positions in the user's text do not move. The `___suffix` is libbpf's CO-RE flavour
 * convention: a CO-RE access through the program's type relocates against the kernel's. */
#ifndef BPFLUA_STRUCT_SHADOW_H
#define BPFLUA_STRUCT_SHADOW_H

#include <stddef.h>
#include <stdio.h>

#define STRUCT_SHADOW_SUFFIX "___bpflua"

/* Writes one #define per struct or union defined in text (with a body, outside comments and
 * strings) whose name the running kernel's BTF has. Returns how many it wrote. */
int struct_shadow_write(FILE *out, const char *text, size_t len);

#endif
