// bcc's program model: every non-static function of the C is a program that an attach_*
// call can name, its type chosen when it is attached. libbpf treats a global function in
// .text as a subprogram as soon as there are two, so this pass puts each such function in a
// section of its own, "bpflua/NAME", before code generation; the loader leaves those
// programs unloaded until something attaches them (runtime/attach.c). As in bcc, helper
// functions a program calls must be static. Functions named the way bcc attaches at load
// (kfunc__fn, lsm__hook, raw_tracepoint__event...) get the section libbpf knows instead.

#include "program_sections.h"

#include <clang/AST/ASTContext.h>
#include <clang/AST/Attr.h>
#include <clang/AST/Decl.h>
#include <clang/AST/DeclGroup.h>

#include <cstring>
#include <string>

namespace {

// bcc attaches functions named after what they probe when the program loads; so does
// bpflua, through the libbpf section the name stands for. (kprobe__ and kretprobe__ are
// chosen by the loader, which can say when the kernel has no kprobes: runtime/object.c.)
struct ConventionalName {
	const char *prefix;
	const char *section;
};

const ConventionalName conventional_names[] = {
	{"kfunc__", "fentry/"},         {"kretfunc__", "fexit/"},
	{"kmod_ret__", "fmod_ret/"},    {"lsm__", "lsm/"},
	{"raw_tracepoint__", "raw_tracepoint/"}, {"tracepoint__", "tracepoint/"},
};

std::string conventional_section(const std::string &name)
{
	for (const ConventionalName &c : conventional_names) {
		size_t n = strlen(c.prefix);
		if (name.compare(0, n, c.prefix) != 0 || name.size() == n)
			continue;
		std::string target = name.substr(n);
		if (!strcmp(c.section, "fentry/") || !strcmp(c.section, "fexit/")) {
			// KFUNC_PROBE(fn) is kfunc__vmlinux__fn, as in bcc.
			if (target.compare(0, 9, "vmlinux__") == 0 && target.size() > 9)
				target = target.substr(9);
		} else if (!strcmp(c.section, "tracepoint/")) {
			// tracepoint__sched__sched_switch: category, then event.
			size_t split = target.find("__");
			if (split == std::string::npos || split == 0 || split + 2 == target.size())
				return "";
			target = target.substr(0, split) + "/" + target.substr(split + 2);
		}
		return c.section + target;
	}
	return "";
}

class ProgramSections : public clang::ASTConsumer {
public:
	void Initialize(clang::ASTContext &context) override { ctx = &context; }

	bool HandleTopLevelDecl(clang::DeclGroupRef group) override
	{
		for (clang::Decl *d : group) {
			auto *fn = llvm::dyn_cast<clang::FunctionDecl>(d);
			if (!fn || !fn->doesThisDeclarationHaveABody() ||
			    fn->getStorageClass() == clang::SC_Static || fn->isInlineSpecified() ||
			    fn->hasAttr<clang::SectionAttr>())
				continue;
			std::string section = conventional_section(fn->getNameAsString());
			if (section.empty())
				section = "bpflua/" + fn->getNameAsString();
			fn->addAttr(clang::SectionAttr::CreateImplicit(*ctx, section));
		}
		return true;
	}

private:
	clang::ASTContext *ctx = nullptr;
};

} // namespace

std::unique_ptr<clang::ASTConsumer> bpflua_program_sections_consumer()
{
	return std::make_unique<ProgramSections>();
}
