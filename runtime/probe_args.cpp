// bcc's probe arguments: `int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk)`
// declares the probed function's arguments after ctx. The kernel passes only ctx, so the
// arguments are taken out of the parameter list and declared at the top of the body, each
// read from its register with libbpf's PT_REGS_PARMn (which knows each architecture's
// calling convention through __TARGET_ARCH_*):
//
//   int f(struct pt_regs *ctx, struct sock *sk) {
//   int f(struct pt_regs *ctx                 ) { struct sock *sk = (...)PT_REGS_PARM1(ctx);
//
// The removed parameters become blanks and the declarations go on the line of the brace, so
// every line keeps its number. Functions named syscall__X (or kprobe__ on a syscall's
// wrapper, __x64_sys_X) get the syscall's own arguments, which the wrapper receives in a
// pt_regs of their own.

#include "bcc_rules.h"

#include <clang/AST/Stmt.h>
#include <clang/Basic/SourceManager.h>

namespace {

const unsigned max_register_args = 6;

bool starts_with(const std::string &s, const char *prefix)
{
	return s.compare(0, strlen(prefix), prefix) == 0;
}

bool is_syscall_wrapper_probe(const std::string &name)
{
	return starts_with(name, "syscall__") || starts_with(name, "kprobe____x64_sys_") ||
	       starts_with(name, "kprobe____arm64_sys_");
}

} // namespace

bool bcc_probe_takes_registers(const clang::FunctionDecl *fn)
{
	if (fn->getNumParams() < 1 || fn->getStorageClass() == clang::SC_Static ||
	    fn->isInlineSpecified())
		return false;
	clang::QualType t = fn->getParamDecl(0)->getType();
	if (!t->isPointerType())
		return false;
	const clang::RecordType *record = t->getPointeeType()->getAs<clang::RecordType>();
	return record && record->getDecl()->getName() == "pt_regs";
}

void bcc_probe_args(clang::ASTContext &ctx, SourceEdits &edits, clang::FunctionDecl *fn)
{
	if (!bcc_probe_takes_registers(fn) || fn->getNumParams() < 2)
		return;
	std::string name = fn->getNameAsString();
	if (starts_with(name, "kretprobe__")) {
		bcc_rules_error(ctx, fn->getParamDecl(1)->getBeginLoc(),
				"'" + name + "' is a return probe: it takes only ctx (the probed "
				"function's arguments are gone when it returns); read the return "
				"value with PT_REGS_RC(ctx)");
		return;
	}
	if (fn->getNumParams() > max_register_args + 1) {
		bcc_rules_error(ctx, fn->getParamDecl(max_register_args + 1)->getBeginLoc(),
				"too many arguments for probe '" + name + "': a probe reads at most " +
					std::to_string(max_register_args) +
					" arguments after ctx, from registers (PT_REGS_PARM1..6)");
		return;
	}
	auto *body = llvm::dyn_cast<clang::CompoundStmt>(fn->getBody());
	const clang::ParmVarDecl *regs = fn->getParamDecl(0);
	clang::SourceLocation params_begin, params_end, ignored, brace;
	if (!body || regs->getName().empty() ||
	    !edits.file_range(regs->getSourceRange(), ignored, params_begin) ||
	    !edits.file_range(fn->getParamDecl(fn->getNumParams() - 1)->getSourceRange(), ignored,
			      params_end) ||
	    !edits.file_range(body->getLBracLoc(), ignored, brace)) {
		bcc_rules_error(ctx, fn->getLocation(),
				"cannot read the arguments of probe '" + name +
					"' from registers: its ctx must be named and its "
					"parameters and body must not come from a macro");
		return;
	}

	std::string ctx_name = regs->getNameAsString();
	bool syscall = is_syscall_wrapper_probe(name);
	std::string preamble;
	if (syscall)
		preamble += " struct pt_regs *_bpflua_regs = (struct pt_regs *)PT_REGS_PARM1(" +
			    ctx_name + ");";
	for (unsigned i = 1; i < fn->getNumParams(); i++) {
		const clang::ParmVarDecl *arg = fn->getParamDecl(i);
		if (arg->getName().empty()) {
			bcc_rules_error(ctx, arg->getBeginLoc(),
					"argument " + std::to_string(i) + " of probe '" + name +
						"' must be named (it is read from a register)");
			return;
		}
		std::string n = std::to_string(i);
		std::string reg = syscall ? "PT_REGS_PARM" + n + "_CORE_SYSCALL(_bpflua_regs)"
					  : "PT_REGS_PARM" + n + "(" + ctx_name + ")";
		preamble += " " + edits.text(arg->getSourceRange()) + " = (__typeof__(" +
			    arg->getNameAsString() + "))" + reg + ";";
	}

	// The parameters after ctx become blanks (new lines stay, so lines keep their numbers).
	const clang::SourceManager &sm = ctx.getSourceManager();
	bool invalid = false;
	llvm::StringRef buffer = sm.getBufferData(sm.getFileID(params_begin), &invalid);
	if (invalid)
		return;
	unsigned from = sm.getFileOffset(params_begin), to = sm.getFileOffset(params_end);
	std::string blanks;
	for (char c : buffer.substr(from, to - from))
		blanks += c == '\n' ? '\n' : ' ';
	edits.replace(params_begin, params_end, blanks);
	edits.insert(brace, preamble, /*after=*/true);
}
