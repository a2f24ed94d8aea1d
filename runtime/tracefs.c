#define _GNU_SOURCE
#include "bpflua.h"
#include "tracefs.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static const char *tracefs_root;
static pthread_once_t tracefs_once = PTHREAD_ONCE_INIT;

static void find_tracefs(void)
{
	if (access("/sys/kernel/tracing/events", F_OK) == 0) {
		tracefs_root = "/sys/kernel/tracing";
		return;
	}
	if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
	    access("/sys/kernel/tracing/events", F_OK) == 0) {
		tracefs_root = "/sys/kernel/tracing";
		return;
	}
	if (access("/sys/kernel/debug/tracing/events", F_OK) == 0)
		tracefs_root = "/sys/kernel/debug/tracing";
}

const char *bpflua_tracefs_dir(void)
{
	pthread_once(&tracefs_once, find_tracefs);
	return tracefs_root;
}

struct field {
	char decl[256];
	int offset, size, is_signed;
};

/* An event record fits in a page or so: a larger offset or size is not a format file's. */
#define MAX_FIELD_END (1 << 16)

/* A number in 0..MAX_FIELD_END, or -1 (atoi is undefined past INT_MAX). */
static int field_number(const char *text)
{
	char *end;
	long n = strtol(text, &end, 10);
	return end != text && n >= 0 && n <= MAX_FIELD_END ? (int)n : -1;
}

/* Parses "\tfield:DECL;\toffset:N;\tsize:N;\tsigned:N;". */
static int parse_field(const char *line, struct field *f)
{
	const char *p = strstr(line, "field:");
	if (!p)
		return -1;
	p += 6;
	const char *end = strchr(p, ';');
	if (!end || (size_t)(end - p) >= sizeof(f->decl))
		return -1;
	memcpy(f->decl, p, (size_t)(end - p));
	f->decl[end - p] = '\0';
	const char *o = strstr(end, "offset:"), *s = strstr(end, "size:"), *g = strstr(end, "signed:");
	if (!o || !s)
		return -1;
	f->offset = field_number(o + 7);
	f->size = field_number(s + 5);
	f->is_signed = g ? field_number(g + 7) == 1 : 0;
	return f->offset < 0 || f->size < 0 || f->offset + f->size > MAX_FIELD_END ? -1 : 0;
}

/* True when every word of a type is a C keyword, a fixed-width integer name or a struct/union
 * tag: such a type compiles on top of vmlinux.h whatever the kernel's typedefs are. */
static int is_plain_type(const char *type)
{
	static const char *const words[] = {
		"const", "volatile", "unsigned", "signed", "char", "short", "int", "long", "void",
		"bool", "_Bool", "u8", "u16", "u32", "u64", "s8", "s16", "s32", "s64", "__u8",
		"__u16", "__u32", "__u64", "__s8", "__s16", "__s32", "__s64", "size_t", NULL};
	char copy[256];
	snprintf(copy, sizeof(copy), "%s", type);
	int after_tag = 0;
	for (char *save, *w = strtok_r(copy, " *", &save); w; w = strtok_r(NULL, " *", &save)) {
		if (after_tag) {
			after_tag = 0;
			continue;
		}
		if (!strcmp(w, "struct") || !strcmp(w, "union") || !strcmp(w, "enum")) {
			after_tag = 1;
			continue;
		}
		int known = 0;
		for (int i = 0; words[i]; i++)
			known |= !strcmp(w, words[i]);
		if (!known)
			return 0;
	}
	return 1;
}

static const char *int_type(int size, int is_signed)
{
	switch (size) {
	case 1: return is_signed ? "s8" : "u8";
	case 2: return is_signed ? "s16" : "u16";
	case 4: return is_signed ? "s32" : "u32";
	case 8: return is_signed ? "s64" : "u64";
	}
	return NULL;
}

/* Writes one member declaration for a field and returns its name in name. */
static void emit_member(FILE *out, const struct field *f, char *name, size_t namelen)
{
	char decl[256];
	snprintf(decl, sizeof(decl), "%s", f->decl);
	/* Split "TYPE NAME[DIM]" into its parts. */
	char *bracket = strchr(decl, '[');
	int is_array = 0;
	char dim[32] = "";
	if (bracket && strncmp(decl, "__data_loc", 10) != 0) {
		is_array = 1;
		snprintf(dim, sizeof(dim), "%s", bracket);
		*bracket = '\0';
	}
	char *end = decl + strlen(decl);
	while (end > decl && isspace((unsigned char)end[-1]))
		*--end = '\0';
	char *start = end;
	while (start > decl && (isalnum((unsigned char)start[-1]) || start[-1] == '_'))
		start--;
	snprintf(name, namelen, "%s", start);
	*start = '\0';
	char *type = decl;

	if (!strncmp(type, "__data_loc", 10)) {
		/* As bcc: the 32-bit (length << 16 | offset) descriptor of a dynamic array. */
		char field_name[128];
		snprintf(field_name, sizeof(field_name), "%s", name);
		snprintf(name, namelen, "data_loc_%.100s", field_name);
		fprintf(out, "\tu32 %s;\n", name);
	} else if (is_array) {
		int numeric = 1;
		for (const char *c = dim + 1; *c && *c != ']'; c++)
			numeric &= isdigit((unsigned char)*c) != 0;
		if (is_plain_type(type) && numeric && strchr(type, '*') == NULL)
			fprintf(out, "\t%s %s%s;\n", type, name, dim);
		else
			fprintf(out, "\tu8 %s[%d];\n", name, f->size);
	} else if (strchr(type, '*')) {
		if (is_plain_type(type))
			fprintf(out, "\t%s%s;\n", type, name);
		else
			fprintf(out, "\tconst void *%s;\n", name);
	} else if (int_type(f->size, f->is_signed)) {
		/* By size, not by declared type: syscall arguments are 8 bytes whatever C type
		 * the syscall gives them. */
		fprintf(out, "\t%s %s;\n", int_type(f->size, f->is_signed), name);
	} else {
		fprintf(out, "\tu8 %s[%d];\n", name, f->size);
	}
}

int tracefs_args_struct(const char *category, const char *event, char **out)
{
	const char *root = bpflua_tracefs_dir();
	if (!root)
		return -ENODEV;
	char *path = str_printf("%s/events/%s/%s/format", root, category, event);
	if (!path)
		return -ENOMEM;
	char *format = file_read(path, NULL);
	int err = format ? 0 : -errno;
	free(path);
	if (!format)
		return err;
	err = tracefs_format_struct(category, event, format, out);
	free(format);
	return err;
}

int tracefs_format_struct(const char *category, const char *event, char *format, char **out)
{
	char *text = NULL, *asserts = NULL;
	size_t text_len = 0, asserts_len = 0;
	FILE *s = open_memstream(&text, &text_len);
	FILE *a = open_memstream(&asserts, &asserts_len);
	if (!s || !a) {
		if (s)
			fclose(s);
		if (a)
			fclose(a);
		free(text);
		free(asserts);
		return -ENOMEM;
	}
	/* The common header (type, flags, preempt count, pid) is off limits to tracepoint
	 * programs: the kernel refuses any read below offset 8. As bcc, it is one opaque field. */
	fprintf(s, "struct tracepoint__%s__%s {\n\tu64 __do_not_use__;\n", category, event);
	int at = 8;
	char *save;
	for (char *line = strtok_r(format, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct field f;
		if (parse_field(line, &f) < 0)
			continue;
		if (f.offset < at)
			continue; /* the common header, or a field overlapping an earlier one */
		if (f.offset > at)
			fprintf(s, "\tu8 __pad_%d[%d];\n", at, f.offset - at);
		char name[128];
		emit_member(s, &f, name, sizeof(name));
		fprintf(a,
			"_Static_assert(__builtin_offsetof(struct tracepoint__%s__%s, %s) == %d && "
			"sizeof(((struct tracepoint__%s__%s *)0)->%s) == %d, "
			"\"tracepoint %s:%s: field %s is not at offset %d, size %d\");\n",
			category, event, name, f.offset, category, event, name, f.size, category,
			event, name, f.offset, f.size);
		at = f.offset + f.size;
	}
	fprintf(s, "};\n");
	fclose(a);
	fputs(asserts, s);
	fclose(s);
	free(asserts);
	*out = text;
	return text ? 0 : -ENOMEM;
}

const char *tracefs_unavailable(void)
{
	static const char *const places[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
	for (size_t i = 0; i < sizeof(places) / sizeof(*places); i++) {
		if (access(places[i], F_OK) == 0 && access(places[i], R_OK | X_OK) != 0 &&
		    (errno == EACCES || errno == EPERM))
			return i == 0 ? "tracefs is mounted at /sys/kernel/tracing but this user cannot "
					"read it (it needs root, or the directory's permissions opened)"
				      : "tracefs is mounted at /sys/kernel/debug/tracing but this user "
					"cannot read it (it needs root, or the directory's permissions "
					"opened)";
	}
	return "tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing)";
}
