// LLVM 14's BPF backend keeps a global variable per CO-RE access it has relocated in a static
// map (BPFAbstractMemberAccess::GEPGlobals) and hands the same variable to the next module
// that makes the same access -- a pointer into a module freed with the previous compile, so
// the second compile of `task->tgid` in one process crashes. The map is private to LLVM;
// this finds it through the plugin's own symbol table and empties it after each compile.
// (Where compiles run in a process of their own, there is nothing to forget, and this costs
// one lookup.)

#include "core_globals.h"

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

namespace llvm {
class GlobalVariable;
}

namespace {

const char gep_globals_symbol[] = "_ZN12_GLOBAL__N_123BPFAbstractMemberAccess10GEPGlobalsB5cxx11E";

typedef std::map<std::string, llvm::GlobalVariable *> GEPGlobals;

// The address of a local symbol of the shared object that holds this function, or null.
void *find_local_symbol(const char *name)
{
	Dl_info info;
	if (!dladdr(reinterpret_cast<void *>(&bpflua_forget_core_globals), &info) || !info.dli_fname)
		return nullptr;
	int fd = open(info.dli_fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return nullptr;
	struct stat st;
	void *found = nullptr;
	if (fstat(fd, &st) == 0 && st.st_size > (off_t)sizeof(ElfW(Ehdr))) {
		void *map = mmap(nullptr, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			const char *base = static_cast<const char *>(map);
			const auto *eh = reinterpret_cast<const ElfW(Ehdr) *>(base);
			const auto *sh = reinterpret_cast<const ElfW(Shdr) *>(base + eh->e_shoff);
			for (int i = 0; i < eh->e_shnum && !found; i++) {
				if (sh[i].sh_type != SHT_SYMTAB || sh[i].sh_link >= eh->e_shnum)
					continue;
				const auto *syms = reinterpret_cast<const ElfW(Sym) *>(base + sh[i].sh_offset);
				const char *strtab = base + sh[sh[i].sh_link].sh_offset;
				size_t n = sh[i].sh_size / sizeof(ElfW(Sym));
				for (size_t j = 0; j < n; j++)
					if (!strcmp(strtab + syms[j].st_name, name)) {
						found = static_cast<char *>(info.dli_fbase) + syms[j].st_value;
						break;
					}
			}
			munmap(map, st.st_size);
		}
	}
	close(fd);
	return found;
}

} // namespace

void bpflua_forget_core_globals()
{
	static GEPGlobals *globals =
		static_cast<GEPGlobals *>(find_local_symbol(gep_globals_symbol));
	if (globals)
		globals->clear();
}
