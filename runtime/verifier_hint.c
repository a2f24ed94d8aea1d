/* Hints for verifier rejections whose log alone does not tell a bcc user what to change.
 *
 * "invalid mem access 'scalar'": the program loaded through a pointer that the verifier only
 * knows as a number. bcc's users write p->field for kernel memory and expect the frontend to
 * turn it into bpf_probe_read_kernel; bpflua's rewrite (kernel_reads.cpp) does that where it
 * can prove the pointer comes from kernel memory, and the hint says what it cannot prove
 * and how to read those by hand. */
#include "verifier_hint.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

/* "<text>:8" from the verifier's last source annotation before the failing instruction
 * ("; return t->pid; @ <text>:8"), written to out; "" when the object has no line info. */
static void failing_line(const char *log, const char *failure, char *out, size_t size)
{
	out[0] = '\0';
	const char *found = NULL;
	for (const char *p = strstr(log, " @ "); p && p < failure; p = strstr(p + 1, " @ "))
		found = p + 3;
	if (!found)
		return;
	size_t len = strcspn(found, "\n");
	if (len >= size)
		return;
	memcpy(out, found, len);
	out[len] = '\0';
}

char *verifier_hint(const char *log)
{
	if (!log)
		return NULL;
	const char *failure = strstr(log, "invalid mem access 'scalar'");
	if (!failure)
		return NULL;
	char line[256];
	failing_line(log, failure, line, sizeof(line));
	return str_printf(
		"hint: the program reads through a pointer that the verifier knows only as a number "
		"(a 'scalar')%s%s.\n"
		"  bpflua reads p->field with bpf_probe_read_kernel where it can tell that p points into\n"
		"  the kernel (bpf_get_current_task(), a probe's arguments, a tracepoint's pointer fields,\n"
		"  a raw tracepoint's args, pointers read through those), but not through a pointer made\n"
		"  from a number (a u64 kept in a map, a cast integer), nor a bit field, nor user memory.\n"
		"  Read those explicitly: bpf_probe_read_kernel(&v, sizeof(v), &p->field) or\n"
		"  BPF_CORE_READ(p, field); BPF_CORE_READ_BITFIELD_PROBED(p, field) for a bit field;\n"
		"  bpf_probe_read_user() for user memory.",
		line[0] ? " at " : "", line);
}
