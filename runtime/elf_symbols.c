/* The function symbols of an ELF file (executable or shared library) with libelf, and its
 * loadable segments, so that an address in a process can be turned into a symbol: the
 * address's offset in the mapped file, then the virtual address that offset loads at. A
 * stripped file's static functions come from its separate debug file (debug_file.c). */
#define _GNU_SOURCE
#include "debug_file.h"
#include "symbol_table.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int add_section_symbols(Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr,
			       struct symbol_table_builder *b)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	if (!data || shdr->sh_entsize == 0)
		return 0;
	size_t n = shdr->sh_size / shdr->sh_entsize;
	for (size_t i = 0; i < n; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC)
			continue;
		if (sym.st_value == 0 || sym.st_shndx == SHN_UNDEF)
			continue;
		const char *name = elf_strptr(elf, shdr->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		if (symbol_table_add(b, sym.st_value, sym.st_size, name, NULL) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int add_segments(Elf *elf, struct bpflua_symbol_table *t)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) != 0)
		return 0;
	t->segments = calloc(n ? n : 1, sizeof(*t->segments));
	if (!t->segments)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_LOAD)
			continue;
		t->segments[t->nsegments++] = (struct bpflua_load_segment){
			phdr.p_offset, phdr.p_vaddr, phdr.p_filesz};
	}
	return 0;
}

static Elf *open_elf(const char *path, int *fd, char **error)
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		*error = str_printf("libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0) {
		*error = str_printf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	Elf *elf = elf_begin(*fd, ELF_C_READ, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		*error = str_printf("%s is not an ELF file", path);
		if (elf)
			elf_end(elf);
		close(*fd);
		return NULL;
	}
	return elf;
}

/* Adds the symbols of elf's sections of type type (SHT_SYMTAB, SHT_DYNSYM, or 0 for both);
 * *found tells whether it had such a section. */
static int add_symbols(Elf *elf, Elf64_Word type, struct symbol_table_builder *b, bool *found)
{
	int err = 0;
	Elf_Scn *scn = NULL;
	while (!err && (scn = elf_nextscn(elf, scn)) != NULL) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr))
			continue;
		if (type ? shdr.sh_type != type
			 : shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM)
			continue;
		if (shdr.sh_type == SHT_SYMTAB && found)
			*found = true;
		err = add_section_symbols(elf, scn, &shdr, b);
	}
	return err;
}

/* A stripped file keeps .dynsym alone: the static functions are in its debug file's .symtab,
 * at the same addresses (objcopy --only-keep-debug keeps the layout). */
static int add_debug_file_symbols(Elf *elf, const char *root, const char *path,
				  struct symbol_table_builder *b)
{
	char *debug_path = debug_file_find(elf, root, path);
	if (!debug_path)
		return 0;
	int fd;
	char *ignored = NULL;
	Elf *debug = open_elf(debug_path, &fd, &ignored);
	free(ignored);
	free(debug_path);
	if (!debug)
		return 0; /* unreadable: the exported names are still there */
	int err = add_symbols(debug, SHT_SYMTAB, b, NULL);
	elf_end(debug);
	close(fd);
	return err;
}

static struct bpflua_symbol_table *load(const char *root, const char *path, bool with_debug_file,
					char **error)
{
	char *full_path = str_printf("%s%s", root, path);
	if (!full_path) {
		*error = str_printf("out of memory");
		return NULL;
	}
	int fd;
	Elf *elf = open_elf(full_path, &fd, error);
	if (!elf) {
		free(full_path);
		return NULL;
	}
	struct symbol_table_builder b = {0};
	bool has_symtab = false;
	int err = add_symbols(elf, 0, &b, &has_symtab);
	if (!err && !has_symtab && with_debug_file)
		err = add_debug_file_symbols(elf, root, path, &b);
	struct bpflua_symbol_table *t = err ? NULL : symbol_table_finish(&b);
	if (t && add_segments(elf, t) < 0) {
		bpflua_symbol_table_free(t);
		t = NULL;
	}
	elf_end(elf);
	close(fd);
	if (!t) {
		symbol_table_builder_free(&b);
		*error = str_printf("out of memory reading the symbols of %s", full_path);
	}
	free(full_path);
	return t;
}

struct bpflua_symbol_table *bpflua_elf_symbols_load(const char *path, char **error)
{
	return load("", path, false, error);
}

struct bpflua_symbol_table *bpflua_elf_symbols_load_with_debug(const char *root, const char *path,
							       char **error)
{
	return load(root ? root : "", path, true, error);
}

struct bpflua_symbol_table *bpflua_elf_symbols_load_image(const void *image, size_t size,
							  char **error)
{
	if (elf_version(EV_CURRENT) == EV_NONE) {
		*error = str_printf("libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	/* A copy: elf_memory wants memory it may write, and the vDSO's pages are read-only. */
	char *copy = malloc(size);
	if (!copy) {
		*error = str_printf("out of memory");
		return NULL;
	}
	memcpy(copy, image, size);
	Elf *elf = elf_memory(copy, size);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		*error = str_printf("not an ELF image");
		if (elf)
			elf_end(elf);
		free(copy);
		return NULL;
	}
	struct symbol_table_builder b = {0};
	int err = add_symbols(elf, 0, &b, NULL);
	struct bpflua_symbol_table *t = err ? NULL : symbol_table_finish(&b);
	if (t && add_segments(elf, t) < 0) {
		bpflua_symbol_table_free(t);
		t = NULL;
	}
	elf_end(elf);
	free(copy);
	if (!t) {
		symbol_table_builder_free(&b);
		*error = str_printf("out of memory reading the symbols of an ELF image");
	}
	return t;
}
