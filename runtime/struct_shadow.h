/* A program's own definitions of kernel structs, kept apart from vmlinux.h's.
 *
 * bcc programs define kernel structs that the kernel's headers do not export (struct
 * nameidata, struct mnt_namespace, ...). With bcc they were the only definition; in bpflua,
 * vmlinux.h already has every struct of the kernel, and a second definition is an error.
 * So a struct or union that the program defines and the kernel's BTF also has is renamed
 * for the program alone. Only the tag is renamed, where the text says `struct NAME` or
 * `union NAME`: a `#define NAME NAME___bpflua` would also rename every other use of the word,
 * such as the `key` and `value` fields of every map definition when a program defines its own
 * `struct key`. So each such NAME in the text becomes an unused alias of the same length
 * (positions in the user's text do not move) and a `#define ALIAS NAME___bpflua`, placed
 * after the prelude (vmlinux.h is already parsed, so the kernel's type keeps its name) and
 * before the program's text, names the program's type. The `___suffix` is libbpf's CO-RE flavour
 * convention: a CO-RE access through the program's type relocates against the kernel's. */
#ifndef BPFLUA_STRUCT_SHADOW_H
#define BPFLUA_STRUCT_SHADOW_H

#include <stddef.h>
#include <stdio.h>

#define STRUCT_SHADOW_SUFFIX "___bpflua"

/* For each struct or union defined in text (with a body, outside comments and strings) whose
 * name the running kernel's BTF has: renames its tags in text in place and writes the
 * #define of the alias to out. Returns how many types it renamed. */
int struct_shadow_write(FILE *out, char *text, size_t len);

#endif
