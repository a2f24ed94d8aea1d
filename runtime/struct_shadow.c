/* struct_shadow: see struct_shadow.h. */
#define _GNU_SOURCE
#include "struct_shadow.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
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

static int already_written(const char *names, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = names; (p = strstr(p, name)); p += n)
		if ((p == names || p[-1] == ' ') && p[n] == ' ')
			return 1;
	return 0;
}

int struct_shadow_write(FILE *out, const char *text, size_t len)
{
	char written[4096] = " ";
	int count = 0;
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
		size_t after = skip_space(text, len, name_end);
		if (name_end == name_start || name_end - name_start > 200 || after >= len ||
		    text[after] != '{')
			continue;
		char name[256];
		snprintf(name, sizeof(name), "%.*s", (int)(name_end - name_start),
			 text + name_start);
		struct btf *btf = kernel_btf();
		if (!btf || already_written(written, name) ||
		    btf__find_by_name_kind(btf, name,
					   is_struct ? BTF_KIND_STRUCT : BTF_KIND_UNION) < 0)
			continue;
		fprintf(out, "#define %s %s" STRUCT_SHADOW_SUFFIX "\n", name, name);
		if (strlen(written) + strlen(name) + 2 < sizeof(written)) {
			strcat(written, name);
			strcat(written, " ");
		}
		count++;
	}
	return count;
}
