/* tracefs: where it is, and the C struct of a tracepoint's arguments from its format file. */
#ifndef BPFLUA_TRACEFS_H
#define BPFLUA_TRACEFS_H

/* Where tracefs is: bpflua_tracefs_dir() in bpflua.h. */

/* Why bpflua_tracefs_dir() found nothing, in words for a person: tracefs is not mounted, or
 * (CAP_BPF and CAP_PERFMON without root) it is mounted where this user may not look. A
 * static string. */
const char *tracefs_unavailable(void);

/* Writes the definition of `struct tracepoint__<category>__<event>` with every field at the
 * offset and size the format file gives, followed by static assertions that the compiler
 * agrees. Returns 0; -ENOENT when there is no such tracepoint; another -errno otherwise. */
int tracefs_args_struct(const char *category, const char *event, char **out);

/* The same from the text of a format file (tracefs_args_struct's parser, which the fuzz
 * target fuzz/tracefs_format_fuzz.c feeds). It cuts format into lines in place. Returns 0 or
 * -ENOMEM. */
int tracefs_format_struct(const char *category, const char *event, char *format, char **out);

#endif
