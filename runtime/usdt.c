/* USDT probes: reading a binary's .note.stapsdt with libelf and decoding each argument.
 *
 * A probe (sys/sdt.h's DTRACE_PROBE / STAP_PROBE) is a nop in the code and a note that
 * says where the nop is, where its semaphore is (a counter the program tests before doing
 * the work of preparing arguments), and how to find each argument at that nop, as the
 * compiler's asm operand text: "-4@%eax", "8@-8(%rbp)", "8@[sp, 16]". The BPF side
 * (bpf/bpflua/usdt.h) reads arguments generically from a decoded form of that text, one spec
 * per location, chosen by the uprobe's BPF cookie: the compiled program does not depend on
 * the traced binary, so it stays in the object cache. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NT_STAPSDT 3

/* ---- Registers: name -> offset in the kernel's struct pt_regs ------------------------------- */

struct reg {
	const char *name;
	short offset;
	unsigned char shift;
};

/* x86-64's struct pt_regs, every name a register goes by in AT&T operands. */
static const struct reg x86_64_regs[] = {
	{"rax", 80, 0}, {"eax", 80, 0}, {"ax", 80, 0}, {"al", 80, 0}, {"ah", 80, 8},
	{"rbx", 40, 0}, {"ebx", 40, 0}, {"bx", 40, 0}, {"bl", 40, 0}, {"bh", 40, 8},
	{"rcx", 88, 0}, {"ecx", 88, 0}, {"cx", 88, 0}, {"cl", 88, 0}, {"ch", 88, 8},
	{"rdx", 96, 0}, {"edx", 96, 0}, {"dx", 96, 0}, {"dl", 96, 0}, {"dh", 96, 8},
	{"rsi", 104, 0}, {"esi", 104, 0}, {"si", 104, 0}, {"sil", 104, 0},
	{"rdi", 112, 0}, {"edi", 112, 0}, {"di", 112, 0}, {"dil", 112, 0},
	{"rbp", 32, 0}, {"ebp", 32, 0}, {"bp", 32, 0}, {"bpl", 32, 0},
	{"rsp", 152, 0}, {"esp", 152, 0}, {"sp", 152, 0}, {"spl", 152, 0},
	{"r8", 72, 0}, {"r8d", 72, 0}, {"r8w", 72, 0}, {"r8b", 72, 0},
	{"r9", 64, 0}, {"r9d", 64, 0}, {"r9w", 64, 0}, {"r9b", 64, 0},
	{"r10", 56, 0}, {"r10d", 56, 0}, {"r10w", 56, 0}, {"r10b", 56, 0},
	{"r11", 48, 0}, {"r11d", 48, 0}, {"r11w", 48, 0}, {"r11b", 48, 0},
	{"r12", 24, 0}, {"r12d", 24, 0}, {"r12w", 24, 0}, {"r12b", 24, 0},
	{"r13", 16, 0}, {"r13d", 16, 0}, {"r13w", 16, 0}, {"r13b", 16, 0},
	{"r14", 8, 0}, {"r14d", 8, 0}, {"r14w", 8, 0}, {"r14b", 8, 0},
	{"r15", 0, 0}, {"r15d", 0, 0}, {"r15w", 0, 0}, {"r15b", 0, 0},
	{"rip", 128, 0},
	{NULL, 0, 0},
};

#define X86_64_IP_OFFSET 128

/* arm64's struct pt_regs begins with user_pt_regs: regs[31], sp, pc, pstate. */
static int arm64_reg(const char *name, short *offset)
{
	if (!strcmp(name, "sp")) {
		*offset = 31 * 8;
		return 0;
	}
	if (!strcmp(name, "pc")) {
		*offset = 32 * 8;
		return 0;
	}
	if ((name[0] == 'x' || name[0] == 'w') && name[1] >= '0' && name[1] <= '9') {
		char *end;
		long n = strtol(name + 1, &end, 10);
		if (!*end && n >= 0 && n <= 30) {
			*offset = (short)(n * 8);
			return 0;
		}
	}
	return -1;
}

static const struct reg *x86_64_reg(const char *name, size_t len)
{
	for (const struct reg *r = x86_64_regs; r->name; r++)
		if (strlen(r->name) == len && !strncmp(r->name, name, len))
			return r;
	return NULL;
}

/* ---- Argument text -------------------------------------------------------------------------- */

/* A symbol's address, for "foo(%rip)" and absolute "foo" operands. */
struct symbol_lookup {
	Elf *elf;
};

static int symbol_address(const struct symbol_lookup *lookup, const char *name, size_t len,
			  unsigned long long *addr)
{
	if (!lookup || !lookup->elf)
		return -1;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(lookup->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || (shdr.sh_type != SHT_SYMTAB && shdr.sh_type != SHT_DYNSYM))
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data || !shdr.sh_entsize)
			continue;
		size_t n = shdr.sh_size / shdr.sh_entsize;
		for (size_t i = 0; i < n; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			const char *s = elf_strptr(lookup->elf, shdr.sh_link, sym.st_name);
			if (s && strlen(s) == len && !strncmp(s, name, len)) {
				*addr = sym.st_value;
				return 0;
			}
		}
	}
	return -1;
}

static int parse_number(const char **p, long long *value)
{
	char *end;
	errno = 0;
	long long v = strtoll(*p, &end, 0);
	if (end == *p || errno)
		return -1;
	*value = v;
	*p = end;
	return 0;
}

/* "%rdi" at *p: the register's pt_regs offset. */
static int parse_x86_reg(const char **p, struct bpflua_usdt_arg *arg, short *offset, int allow_shift)
{
	if (**p != '%')
		return -1;
	const char *start = ++*p;
	while ((**p >= 'a' && **p <= 'z') || (**p >= '0' && **p <= '9'))
		(*p)++;
	const struct reg *r = x86_64_reg(start, (size_t)(*p - start));
	if (!r || (r->shift && !allow_shift))
		return -1;
	*offset = r->offset;
	if (allow_shift)
		arg->reg_shift = r->shift;
	return 0;
}

static char *bad_arg(const char *text, const char *why)
{
	return str_printf("cannot decode USDT argument '%s': %s", text, why);
}

/* AT&T operands: $imm, %reg, disp(%base), disp(%base,%index,scale), sym+N(%rip), sym. */
static int parse_x86_64(const char *text, const char *p, const struct symbol_lookup *lookup,
			unsigned long long probe_address, struct bpflua_usdt_arg *arg, char **error)
{
	if (*p == '$') {
		p++;
		if (parse_number(&p, &arg->offset) < 0 || *p) {
			*error = bad_arg(text, "expected a number after '$'");
			return -1;
		}
		arg->kind = BPFLUA_USDT_ARG_CONST;
		return 0;
	}
	if (*p == '%') {
		if (parse_x86_reg(&p, arg, &arg->base_reg, 1) < 0 || *p) {
			*error = bad_arg(text, "unknown register");
			return -1;
		}
		arg->kind = BPFLUA_USDT_ARG_REG;
		return 0;
	}
	arg->kind = BPFLUA_USDT_ARG_MEM;
	/* The displacement: a number, or a symbol with an optional +N/-N. */
	const char *symbol = NULL;
	size_t symbol_len = 0;
	if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' || *p == '.') {
		symbol = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		       *p == '_' || *p == '.' || *p == '$')
			p++;
		symbol_len = (size_t)(p - symbol);
		if ((*p == '+' || *p == '-') && parse_number(&p, &arg->offset) < 0) {
			*error = bad_arg(text, "expected a number after the symbol's sign");
			return -1;
		}
	} else if (*p != '(' && parse_number(&p, &arg->offset) < 0) {
		*error = bad_arg(text, "expected a displacement, a register or a constant");
		return -1;
	}
	if (*p == '(') {
		p++;
		if (*p == '%' && parse_x86_reg(&p, arg, &arg->base_reg, 0) < 0) {
			*error = bad_arg(text, "unknown base register");
			return -1;
		}
		if (*p == ',') {
			p++;
			if (parse_x86_reg(&p, arg, &arg->index_reg, 0) < 0) {
				*error = bad_arg(text, "unknown index register");
				return -1;
			}
			arg->scale = 1;
			if (*p == ',') {
				p++;
				long long scale;
				if (parse_number(&p, &scale) < 0 ||
				    (scale != 1 && scale != 2 && scale != 4 && scale != 8)) {
					*error = bad_arg(text, "the scale must be 1, 2, 4 or 8");
					return -1;
				}
				arg->scale = (unsigned char)scale;
			}
		}
		if (*p++ != ')') {
			*error = bad_arg(text, "expected ')'");
			return -1;
		}
	}
	if (*p) {
		*error = bad_arg(text, "unexpected text after the operand");
		return -1;
	}
	int rip_relative = arg->base_reg == X86_64_IP_OFFSET && arg->index_reg < 0;
	if (symbol) {
		/* The operand names the symbol's address (relative to %rip, or absolute in a
		 * non-PIE binary): at run time that is the probe's address (the instruction
		 * pointer when the uprobe fires) plus a distance fixed at link time. */
		if (arg->base_reg >= 0 && !rip_relative) {
			*error = bad_arg(text, "a symbol as displacement of a register other than %rip");
			return -1;
		}
		unsigned long long addr;
		if (symbol_address(lookup, symbol, symbol_len, &addr) < 0) {
			*error = str_printf("cannot decode USDT argument '%s': no symbol '%.*s' in the "
					    "binary", text, (int)symbol_len, symbol);
			return -1;
		}
		arg->base_reg = X86_64_IP_OFFSET;
		arg->offset += (long long)(addr - probe_address);
	} else if (rip_relative) {
		*error = bad_arg(text, "a %rip-relative operand without a symbol");
		return -1;
	} else if (arg->base_reg < 0 && arg->index_reg < 0) {
		*error = bad_arg(text, "an absolute address without a symbol");
		return -1;
	}
	return 0;
}

/* arm64 operands: xN/wN/sp, [reg], [reg, off], and a constant (with or without '#'). */
static int parse_arm64(const char *text, const char *p, struct bpflua_usdt_arg *arg, char **error)
{
	char name[8];
	int n = 0;
	if (*p == '[') {
		p++;
		while (*p == ' ')
			p++;
		while (((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')) && n < 7)
			name[n++] = *p++;
		name[n] = '\0';
		if (arm64_reg(name, &arg->base_reg) < 0) {
			*error = bad_arg(text, "unknown base register");
			return -1;
		}
		while (*p == ' ')
			p++;
		if (*p == ',') {
			p++;
			while (*p == ' ' || *p == '#')
				p++;
			if (parse_number(&p, &arg->offset) < 0) {
				*error = bad_arg(text, "expected an offset after ','");
				return -1;
			}
			while (*p == ' ')
				p++;
		}
		if (*p++ != ']' || *p) {
			*error = bad_arg(text, "expected ']' at the end");
			return -1;
		}
		arg->kind = BPFLUA_USDT_ARG_MEM;
		return 0;
	}
	if (*p == '#' || *p == '-' || (*p >= '0' && *p <= '9')) {
		if (*p == '#')
			p++;
		if (parse_number(&p, &arg->offset) < 0 || *p) {
			*error = bad_arg(text, "expected a constant");
			return -1;
		}
		arg->kind = BPFLUA_USDT_ARG_CONST;
		return 0;
	}
	while (*p && n < 7)
		name[n++] = *p++;
	name[n] = '\0';
	if (*p || arm64_reg(name, &arg->base_reg) < 0) {
		*error = bad_arg(text, "unknown register");
		return -1;
	}
	arg->kind = BPFLUA_USDT_ARG_REG;
	return 0;
}

static int parse_arg(int machine, const char *text, const struct symbol_lookup *lookup,
		     unsigned long long probe_address, struct bpflua_usdt_arg *arg, char **error)
{
	memset(arg, 0, sizeof(*arg));
	arg->base_reg = -1;
	arg->index_reg = -1;
	arg->size = 8;
	const char *p = text;
	/* "N@": the size in bytes, negative for signed; without it the value is a long. */
	const char *at = strchr(text, '@');
	if (at) {
		char *end;
		long size = strtol(text, &end, 10);
		if (end != at || (labs(size) != 1 && labs(size) != 2 && labs(size) != 4 &&
				  labs(size) != 8)) {
			*error = bad_arg(text, "the size before '@' must be 1, 2, 4 or 8, or negative");
			return -1;
		}
		arg->size = (unsigned char)labs(size);
		arg->is_signed = size < 0;
		p = at + 1;
	} else {
		arg->is_signed = 1;
	}
	switch (machine) {
	case EM_X86_64:
		return parse_x86_64(text, p, lookup, probe_address, arg, error);
	case EM_AARCH64:
		return parse_arm64(text, p, arg, error);
	default:
		*error = str_printf("cannot decode USDT argument '%s': bpflua reads USDT arguments "
				    "of x86-64 and arm64 binaries (this one is ELF machine %d)",
				    text, machine);
		return -1;
	}
}

int bpflua_usdt_arg_parse(int machine, const char *text, const char *symbols_path,
			  unsigned long long probe_address, struct bpflua_usdt_arg *arg,
			  char **error)
{
	*error = NULL;
	struct symbol_lookup lookup = {NULL};
	int fd = -1;
	if (symbols_path) {
		elf_version(EV_CURRENT);
		fd = open(symbols_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			*error = str_printf("cannot open %s: %s", symbols_path, strerror(errno));
			return -1;
		}
		lookup.elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	}
	int err = parse_arg(machine, text, &lookup, probe_address, arg, error);
	if (lookup.elf)
		elf_end(lookup.elf);
	if (fd >= 0)
		close(fd);
	return err;
}

/* Splits "8@%rdi -4@[sp, 16]" at the spaces between arguments (not those inside [...]). */
static int split_args(const char *args, char **out, int max)
{
	int n = 0;
	const char *p = args;
	while (*p) {
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		const char *start = p;
		int depth = 0;
		while (*p && (depth || *p != ' ')) {
			if (*p == '[' || *p == '(')
				depth++;
			else if ((*p == ']' || *p == ')') && depth)
				depth--;
			p++;
		}
		if (n == max)
			return -1;
		out[n++] = strndup(start, (size_t)(p - start));
	}
	return n;
}

/* ---- The notes ------------------------------------------------------------------------------ */

static int vaddr_to_offset(Elf *elf, unsigned long long vaddr, unsigned long long *offset)
{
	size_t n;
	if (elf_getphdrnum(elf, &n) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		GElf_Phdr phdr;
		if (!gelf_getphdr(elf, (int)i, &phdr) || phdr.p_type != PT_LOAD)
			continue;
		if (vaddr >= phdr.p_vaddr && vaddr < phdr.p_vaddr + phdr.p_memsz) {
			*offset = vaddr - phdr.p_vaddr + phdr.p_offset;
			return 0;
		}
	}
	return -1;
}

static void decode_location(Elf *elf, int machine, struct bpflua_usdt_location *loc)
{
	struct symbol_lookup lookup = {elf};
	char *args[BPFLUA_USDT_MAX_ARGS];
	int n = split_args(loc->args, args, BPFLUA_USDT_MAX_ARGS);
	if (n < 0) {
		loc->spec_error = str_printf("more than %d arguments in '%s'", BPFLUA_USDT_MAX_ARGS,
					     loc->args);
		return;
	}
	for (int i = 0; i < n; i++) {
		char *error = NULL;
		if (!loc->spec_error &&
		    parse_arg(machine, args[i], &lookup, loc->address, &loc->spec.args[i], &error) < 0)
			loc->spec_error = error;
		free(args[i]);
	}
	loc->spec.nargs = n;
}

static struct bpflua_usdt_probe *find_or_add_probe(struct bpflua_usdt_probes *p,
						   const char *provider, const char *name)
{
	for (int i = 0; i < p->count; i++)
		if (!strcmp(p->probes[i].provider, provider) && !strcmp(p->probes[i].name, name))
			return &p->probes[i];
	struct bpflua_usdt_probe *grown = realloc(p->probes, sizeof(*grown) * (size_t)(p->count + 1));
	if (!grown)
		return NULL;
	p->probes = grown;
	struct bpflua_usdt_probe *probe = &p->probes[p->count];
	memset(probe, 0, sizeof(*probe));
	probe->provider = strdup(provider);
	probe->name = strdup(name);
	if (!probe->provider || !probe->name) {
		free((char *)probe->provider);
		free((char *)probe->name);
		return NULL;
	}
	p->count++;
	return probe;
}

static unsigned long long read_address(const char *desc, int is_64, int msb)
{
	unsigned long long v = 0;
	const unsigned char *b = (const unsigned char *)desc;
	int size = is_64 ? 8 : 4;
	for (int i = 0; i < size; i++)
		v |= (unsigned long long)b[msb ? i : size - 1 - i] << (8 * (size - 1 - i));
	return v;
}

/* One note: pc, base, semaphore (addresses of the ELF's class), provider, name, args. */
static int add_note(Elf *elf, struct bpflua_usdt_probes *p, const char *desc, size_t size,
		    int is_64, int msb, unsigned long long base_section, int has_base_section)
{
	size_t addr_size = is_64 ? 8 : 4;
	if (size < 3 * addr_size + 3)
		return 0;
	unsigned long long pc = read_address(desc, is_64, msb);
	unsigned long long base = read_address(desc + addr_size, is_64, msb);
	unsigned long long semaphore = read_address(desc + 2 * addr_size, is_64, msb);
	const char *provider = desc + 3 * addr_size, *end = desc + size;
	const char *name = memchr(provider, '\0', (size_t)(end - provider));
	if (!name++ || name >= end)
		return 0;
	const char *args = memchr(name, '\0', (size_t)(end - name));
	if (!args++ || args > end)
		return 0;
	if (args == end || !memchr(args, '\0', (size_t)(end - args)))
		args = "";
	/* Prelinking moves the code but not the notes: .stapsdt.base says by how much. */
	if (has_base_section)
		pc += base_section - base;
	struct bpflua_usdt_probe *probe = find_or_add_probe(p, provider, name);
	if (!probe)
		return -ENOMEM;
	struct bpflua_usdt_location *grown =
		realloc(probe->locations, sizeof(*grown) * (size_t)(probe->nlocations + 1));
	if (!grown)
		return -ENOMEM;
	probe->locations = grown;
	struct bpflua_usdt_location *loc = &probe->locations[probe->nlocations++];
	memset(loc, 0, sizeof(*loc));
	loc->address = pc;
	loc->semaphore = semaphore;
	loc->args = strdup(args);
	if (!loc->args)
		return -ENOMEM;
	if (vaddr_to_offset(elf, pc, &loc->offset) < 0)
		loc->spec_error = str_printf("the probe's address 0x%llx is in no loadable segment", pc);
	if (semaphore && vaddr_to_offset(elf, semaphore, &loc->semaphore_offset) < 0 &&
	    !loc->spec_error)
		loc->spec_error = str_printf("the semaphore's address 0x%llx is in no loadable segment",
					     semaphore);
	if (!loc->spec_error)
		decode_location(elf, p->machine, loc);
	return 0;
}

static int read_notes(Elf *elf, struct bpflua_usdt_probes *p, char **error)
{
	GElf_Ehdr ehdr;
	size_t shstrndx;
	if (!gelf_getehdr(elf, &ehdr) || elf_getshdrstrndx(elf, &shstrndx) != 0) {
		*error = str_printf("%s is not an ELF file", p->path);
		return -1;
	}
	p->machine = ehdr.e_machine;
	int is_64 = ehdr.e_ident[EI_CLASS] == ELFCLASS64;
	int msb = ehdr.e_ident[EI_DATA] == ELFDATA2MSB;
	unsigned long long base_section = 0;
	int has_base_section = 0;
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		const char *name;
		if (gelf_getshdr(scn, &shdr) && (name = elf_strptr(elf, shstrndx, shdr.sh_name)) &&
		    !strcmp(name, ".stapsdt.base")) {
			base_section = shdr.sh_addr;
			has_base_section = 1;
		}
	}
	scn = NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr shdr;
		const char *name;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_NOTE ||
		    !(name = elf_strptr(elf, shstrndx, shdr.sh_name)) ||
		    strcmp(name, ".note.stapsdt") != 0)
			continue;
		Elf_Data *data = elf_rawdata(scn, NULL);
		if (!data)
			continue;
		size_t offset = 0, name_offset, desc_offset;
		GElf_Nhdr nhdr;
		while ((offset = gelf_getnote(data, offset, &nhdr, &name_offset, &desc_offset)) > 0) {
			const char *owner = (const char *)data->d_buf + name_offset;
			if (nhdr.n_type != NT_STAPSDT || nhdr.n_namesz != 8 || memcmp(owner, "stapsdt", 8) != 0)
				continue;
			int err = add_note(elf, p, (const char *)data->d_buf + desc_offset, nhdr.n_descsz,
					   is_64, msb, base_section, has_base_section);
			if (err < 0) {
				*error = strdup("out of memory");
				return -1;
			}
		}
	}
	return 0;
}

struct bpflua_usdt_probes *bpflua_usdt_probes_load(const char *path, char **error)
{
	*error = NULL;
	if (elf_version(EV_CURRENT) == EV_NONE) {
		*error = str_printf("libelf: %s", elf_errmsg(-1));
		return NULL;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*error = str_printf("cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	struct bpflua_usdt_probes *p = calloc(1, sizeof(*p));
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!p || !elf || !(p->path = strdup(path))) {
		*error = elf ? strdup("out of memory") : str_printf("%s is not an ELF file", path);
	} else {
		read_notes(elf, p, error);
	}
	if (elf)
		elf_end(elf);
	close(fd);
	if (*error) {
		bpflua_usdt_probes_free(p);
		return NULL;
	}
	return p;
}

void bpflua_usdt_probes_free(struct bpflua_usdt_probes *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->count; i++) {
		struct bpflua_usdt_probe *probe = &p->probes[i];
		for (int j = 0; j < probe->nlocations; j++) {
			free((char *)probe->locations[j].args);
			free((char *)probe->locations[j].spec_error);
		}
		free(probe->locations);
		free((char *)probe->provider);
		free((char *)probe->name);
	}
	free(p->probes);
	free((char *)p->path);
	free(p);
}
