/* struct_shadow: see struct_shadow.h. */
#define _GNU_SOURCE
#include "struct_shadow.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* The kernel's BTF, loaded once per process: a few megabytes parsed in tens of milliseconds,
 * wanted only when a program defines a struct. */
static struct btf *kernel_btf(void)
{
	static struct btf *btf;
	static int tried;
	if (!tried) {
		tried = 1;
		btf = btf__load_vmlinux_btf();
		if (libbpf_get_error(btf))
			btf = NULL;
	}
	return btf;
}

static int is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

/* Skips blanks, newlines and comments from p; returns the first other position. */
static size_t skip_space(const char *s, size_t len, size_t p)
{
	while (p < len) {
		if (isspace((unsigned char)s[p])) {
			p++;
		} else if (s[p] == '/' && p + 1 < len && s[p + 1] == '/') {
			while (p < len && s[p] != '\n')
				p++;
		} else if (s[p] == '/' && p + 1 < len && s[p + 1] == '*') {
			const char *end =
				p + 2 < len ? memmem(s + p + 2, len - p - 2, "*/", 2) : NULL;
			p = end && (size_t)(end - s) < len ? (size_t)(end - s) + 2 : len;
		} else {
			break;
		}
	}
	return p;
}

/* Skips a string or character literal that starts at p. */
static size_t skip_literal(const char *s, size_t len, size_t p)
{
	char quote = s[p++];
	while (p < len && s[p] != quote && s[p] != '\n')
		p += s[p] == '\\' ? 2 : 1;
	return p + 1;
}

/* Calls visit for each `struct NAME` or `union NAME` in text outside comments and
 * literals; name_start/name_end delimit NAME, has_body says whether `{` follows it. */
typedef void (*tag_visit_fn)(char *text, size_t len, size_t name_start, size_t name_end,
			     int is_struct, int has_body, void *data);

static void each_tag(char *text, size_t len, tag_visit_fn visit, void *data)
{
	size_t p = 0;
	while (p < len) {
		size_t q = skip_space(text, len, p);
		if (q != p) {
			p = q;
			continue;
		}
		if (text[p] == '"' || text[p] == '\'') {
			p = skip_literal(text, len, p);
			continue;
		}
		if (!is_ident(text[p])) {
			p++;
			continue;
		}
		size_t start = p;
		while (p < len && is_ident(text[p]))
			p++;
		size_t word = p - start;
		int is_struct = word == 6 && !strncmp(text + start, "struct", 6);
		int is_union = word == 5 && !strncmp(text + start, "union", 5);
		if ((!is_struct && !is_union) || (start > 0 && is_ident(text[start - 1])))
			continue;
		size_t name_start = skip_space(text, len, p), name_end = name_start;
		while (name_end < len && is_ident(text[name_end]))
			name_end++;
		if (name_end == name_start || name_end - name_start > 200)
			continue;
		size_t after = skip_space(text, len, name_end);
		visit(text, len, name_start, name_end, is_struct, after < len && text[after] == '{',
		      data);
		p = name_end;
	}
}

/* The struct and union names the program defines and the kernel has, with their aliases. */
#define MAX_SHADOWED 64
struct shadowed {
	char *names[MAX_SHADOWED];
	char *aliases[MAX_SHADOWED];
	int count;
};

static int shadowed_find(const struct shadowed *s, const char *text, size_t n)
{
	for (int i = 0; i < s->count; i++)
		if (strlen(s->names[i]) == n && !strncmp(s->names[i], text, n))
			return i;
	return -1;
}

static void collect_definition(char *text, size_t len, size_t name_start, size_t name_end,
			       int is_struct, int has_body, void *data)
{
	(void)len;
	struct shadowed *s = data;
	size_t n = name_end - name_start;
	if (!has_body || s->count == MAX_SHADOWED || shadowed_find(s, text + name_start, n) >= 0)
		return;
	char *name = strndup(text + name_start, n);
	struct btf *btf = kernel_btf();
	if (name && btf &&
	    btf__find_by_name_kind(btf, name, is_struct ? BTF_KIND_STRUCT : BTF_KIND_UNION) >= 0)
		s->names[s->count++] = name;
	else
		free(name);
}

static int identifier_in(const char *text, size_t len, const char *ident)
{
	size_t n = strlen(ident);
	for (const char *p = text; (p = memmem(p, len - (size_t)(p - text), ident, n)); p += n) {
		int starts = p == text || !is_ident(p[-1]);
		int ends = (size_t)(p - text) + n >= len || !is_ident(p[n]);
		if (starts && ends)
			return 1;
	}
	return 0;
}

/* An identifier as long as name (so positions in the text do not move) that the text does
 * not use: `_` then base-36 digits, a form neither vmlinux.h nor bpflua's headers use. */
static char *make_alias(const char *name, const char *text, size_t len)
{
	size_t n = strlen(name);
	if (n < 2)
		return NULL;
	char *alias = malloc(n + 1);
	if (!alias)
		return NULL;
	for (unsigned long counter = 0; counter < 100000; counter++) {
		unsigned long c = counter;
		alias[0] = '_';
		for (size_t i = n - 1; i >= 1; i--) {
			alias[i] = "0123456789abcdefghijklmnopqrstuvwxyz"[c % 36];
			c /= 36;
		}
		alias[n] = '\0';
		if (c == 0 && !identifier_in(text, len, alias))
			return alias;
	}
	free(alias);
	return NULL;
}

static void rename_tag(char *text, size_t len, size_t name_start, size_t name_end,
		       int is_struct, int has_body, void *data)
{
	(void)len, (void)is_struct, (void)has_body;
	const struct shadowed *s = data;
	int i = shadowed_find(s, text + name_start, name_end - name_start);
	if (i >= 0 && s->aliases[i])
		memcpy(text + name_start, s->aliases[i], name_end - name_start);
}

int struct_shadow_write(FILE *out, char *text, size_t len)
{
	struct shadowed s = {0};
	each_tag(text, len, collect_definition, &s);
	for (int i = 0; i < s.count; i++) {
		/* Tags whose name is too short for an alias are renamed by a macro of their own
		 * name, which also renames any other use of that word. */
		s.aliases[i] = make_alias(s.names[i], text, len);
		fprintf(out, "#define %s %s" STRUCT_SHADOW_SUFFIX "\n",
			s.aliases[i] ? s.aliases[i] : s.names[i], s.names[i]);
	}
	each_tag(text, len, rename_tag, &s);
	int count = s.count;
	for (int i = 0; i < s.count; i++) {
		free(s.names[i]);
		free(s.aliases[i]);
	}
	return count;
}
