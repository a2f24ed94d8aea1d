/* Symbol tables sorted by address, and the kernel's from /proc/kallsyms. */
#define _GNU_SOURCE
#include "symbol_table.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *keep_string(struct symbol_table_builder *b, const char *s)
{
	if (b->nstrings == b->strings_capacity) {
		int capacity = b->strings_capacity ? b->strings_capacity * 2 : 1024;
		char **grown = realloc(b->strings, sizeof(*grown) * (size_t)capacity);
		if (!grown)
			return NULL;
		b->strings = grown;
		b->strings_capacity = capacity;
	}
	char *copy = strdup(s);
	if (copy)
		b->strings[b->nstrings++] = copy;
	return copy;
}

int symbol_table_add(struct symbol_table_builder *b, uint64_t addr, uint64_t size,
		     const char *name, const char *module)
{
	if (b->count == b->capacity) {
		int capacity = b->capacity ? b->capacity * 2 : 1024;
		struct bpflua_symbol *grown = realloc(b->symbols, sizeof(*grown) * (size_t)capacity);
		if (!grown)
			return -ENOMEM;
		b->symbols = grown;
		b->capacity = capacity;
	}
	struct bpflua_symbol *s = &b->symbols[b->count];
	s->addr = addr;
	s->size = size;
	s->name = keep_string(b, name);
	s->module = NULL;
	if (module) {
		/* Modules repeat on every line of theirs: keep one copy of each run. */
		const char *last = b->count ? b->symbols[b->count - 1].module : NULL;
		s->module = last && !strcmp(last, module) ? last : keep_string(b, module);
	}
	if (!s->name || (module && !s->module))
		return -ENOMEM;
	b->count++;
	return 0;
}

static int by_address(const void *a, const void *b)
{
	const struct bpflua_symbol *x = a, *y = b;
	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Among aliases, the sized one (a function rather than a label) goes last, where a
	 * lookup lands. */
	return (x->size > 0) - (y->size > 0);
}

struct bpflua_symbol_table *symbol_table_finish(struct symbol_table_builder *b)
{
	struct bpflua_symbol_table *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (b->count)
		qsort(b->symbols, (size_t)b->count, sizeof(*b->symbols), by_address);
	t->symbols = b->symbols;
	t->count = b->count;
	t->strings = b->strings;
	t->nstrings = b->nstrings;
	memset(b, 0, sizeof(*b));
	return t;
}

void symbol_table_builder_free(struct symbol_table_builder *b)
{
	for (int i = 0; i < b->nstrings; i++)
		free(b->strings[i]);
	free(b->strings);
	free(b->symbols);
	memset(b, 0, sizeof(*b));
}

void bpflua_symbol_table_free(struct bpflua_symbol_table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->nstrings; i++)
		free(t->strings[i]);
	free(t->strings);
	free(t->symbols);
	free(t->segments);
	free(t);
}

int bpflua_symbol_lookup(const struct bpflua_symbol_table *t, unsigned long long addr)
{
	int lo = 0, hi = t->count - 1, found = -1;
	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		if (t->symbols[mid].addr <= addr) {
			found = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	if (found < 0)
		return -1;
	const struct bpflua_symbol *s = &t->symbols[found];
	if (s->size > 0 && addr >= s->addr + s->size)
		return -1; /* past the end of the nearest function: not in any */
	return found;
}

int bpflua_symbol_find(const struct bpflua_symbol_table *t, const char *name)
{
	for (int i = 0; i < t->count; i++)
		if (!strcmp(t->symbols[i].name, name))
			return i;
	return -1;
}

unsigned long long bpflua_elf_offset_to_vaddr(const struct bpflua_symbol_table *t,
					      unsigned long long offset)
{
	for (int i = 0; i < t->nsegments; i++) {
		const struct bpflua_load_segment *s = &t->segments[i];
		if (offset >= s->offset && offset < s->offset + s->filesz)
			return offset - s->offset + s->vaddr;
	}
	return ~0ULL;
}

/* The kernel's text symbols ("ffffffff81000000 T _text", "... t name\t[module]"). */
struct bpflua_symbol_table *bpflua_kernel_symbols_load(char **error)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	if (!f) {
		*error = str_printf("cannot read /proc/kallsyms: %s", strerror(errno));
		return NULL;
	}
	struct symbol_table_builder b = {0};
	char line[512];
	int zero_addresses = 1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256], module[128];
		int fields = sscanf(line, "%llx %c %255s [%127[^]]]", &addr, &type, name, module);
		if (fields < 3)
			continue;
		if (addr)
			zero_addresses = 0;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (symbol_table_add(&b, addr, 0, name, fields == 4 ? module : NULL) < 0) {
			fclose(f);
			symbol_table_builder_free(&b);
			*error = str_printf("out of memory reading /proc/kallsyms");
			return NULL;
		}
	}
	fclose(f);
	if (zero_addresses) {
		symbol_table_builder_free(&b);
		*error = str_printf("/proc/kallsyms shows no addresses: reading kernel symbols needs "
				    "root (or kernel.kptr_restrict=0)");
		return NULL;
	}
	struct bpflua_symbol_table *t = symbol_table_finish(&b);
	if (!t) {
		symbol_table_builder_free(&b);
		*error = str_printf("out of memory");
	}
	return t;
}
