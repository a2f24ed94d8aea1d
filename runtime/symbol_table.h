/* A table of symbols sorted by address, filled from an ELF file (elf_symbols.c) or from
 * /proc/kallsyms (symbol_table.c), and the lookups that ksym/sym make on it. */
#ifndef BPFLUA_SYMBOL_TABLE_H
#define BPFLUA_SYMBOL_TABLE_H

#include "bpflua.h"

#include <stddef.h>
#include <stdint.h>

struct symbol_table_builder {
	struct bpflua_symbol *symbols;
	int count, capacity;
	char **strings;            /* every name and module, freed with the table */
	int nstrings, strings_capacity;
};

/* Adds a symbol, copying name and module (module may be NULL). Returns 0 or -ENOMEM. */
int symbol_table_add(struct symbol_table_builder *b, uint64_t addr, uint64_t size,
		     const char *name, const char *module);

/* Sorts and hands over what the builder holds; the builder is empty afterwards. */
struct bpflua_symbol_table *symbol_table_finish(struct symbol_table_builder *b);

void symbol_table_builder_free(struct symbol_table_builder *b);

#endif
