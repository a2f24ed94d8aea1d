// bcc's program model: every non-static function of the C is a program that an attach_*
// call can name, its type chosen when it is attached. libbpf treats a global function in
// .text as a subprogram as soon as there are two, so this pass puts each such function in a
// section of its own, "bpflua/NAME", before code generation; the loader leaves those
// programs unloaded until something attaches them (runtime/attach.c). As in bcc, helper
// functions a program calls must be static.

#include "program_sections.h"

#include <clang/AST/ASTContext.h>
#include <clang/AST/Attr.h>
#include <clang/AST/Decl.h>
#include <clang/AST/DeclGroup.h>

namespace {

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
			fn->addAttr(clang::SectionAttr::CreateImplicit(
				*ctx, "bpflua/" + fn->getNameAsString()));
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
