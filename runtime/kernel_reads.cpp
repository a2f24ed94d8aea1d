// bcc's implicit kernel reads: a probe may write `task->real_parent->tgid` where task points
// into kernel memory, which BPF can only read with bpf_probe_read_kernel. This pass finds the
// pointers that come from kernel memory and wraps each read through them:
//
//   task->real_parent->tgid
//   ({ __typeof__(task->real_parent->tgid) _bpflua_val;
//      bpf_probe_read_kernel(&_bpflua_val, sizeof(_bpflua_val), &(
//          ({ ...the same for task->real_parent... })->tgid)); _bpflua_val; })
//
// The kernel's types carry preserve_access_index (vmlinux.h), so the address taken in each
// read is CO-RE relocated: a cached object reads the right offsets on another kernel.
//
// Where kernel pointers come from: bpf_get_current_task(); a probe's arguments after ctx
// (probe_args.cpp); pointers read out of ctx (a tracepoint's fields, a raw tracepoint's
// args[], the registers); and, following them, pointers read through kernel pointers,
// addresses inside kernel memory (&p->field, p->array), pointer arithmetic, ternaries, and
// variables (or struct variables' fields) assigned any of these -- tracked over the whole
// function, as bcc does, without regard to order. A read is a load of a value from kernel
// memory: taking an address (&p->x), sizeof and typeof read nothing, and are left alone.
// Pointers to user memory (a syscall tracepoint's fields) are not followed: reading user
// memory stays explicit, with bpf_probe_read_user.

#include "bcc_rules.h"

#include <clang/AST/Expr.h>
#include <clang/AST/RecursiveASTVisitor.h>

namespace {

class KernelPointers {
public:
	KernelPointers(const clang::FunctionDecl *fn) : fn(fn)
	{
		if (fn->getNumParams() > 0 && fn->getStorageClass() != clang::SC_Static &&
		    !is_user_context(fn->getParamDecl(0)))
			context = fn->getParamDecl(0);
		if (bcc_probe_takes_registers(fn))
			for (unsigned i = 1; i < fn->getNumParams(); i++)
				variables.insert(fn->getParamDecl(i));
	}

	// Whether the value of the (r-value) expression e points into kernel memory.
	bool points_to_kernel(const clang::Expr *e) const
	{
		e = e->IgnoreParens();
		if (const auto *cast = llvm::dyn_cast<clang::CastExpr>(e)) {
			switch (cast->getCastKind()) {
			case clang::CK_ArrayToPointerDecay:
				return in_kernel_memory(cast->getSubExpr());
			case clang::CK_LValueToRValue:
				return loads_kernel_pointer(cast->getSubExpr());
			default:
				return points_to_kernel(cast->getSubExpr());
			}
		}
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e))
			return variables.count(ref->getDecl()) && may_hold_pointer(e->getType());
		if (const auto *call = llvm::dyn_cast<clang::CallExpr>(e)) {
			// libbpf declares helpers as pointers: static long (*bpf_...)(void) = (void *)35;
			const auto *callee =
				llvm::dyn_cast<clang::DeclRefExpr>(call->getCallee()->IgnoreParenImpCasts());
			return callee && callee->getDecl()->getName() == "bpf_get_current_task";
		}
		if (const auto *cond = llvm::dyn_cast<clang::AbstractConditionalOperator>(e))
			return points_to_kernel(cond->getTrueExpr()) ||
			       points_to_kernel(cond->getFalseExpr());
		if (const auto *bin = llvm::dyn_cast<clang::BinaryOperator>(e)) {
			switch (bin->getOpcode()) {
			case clang::BO_Add:
			case clang::BO_Sub:
				if (!e->getType()->isPointerType())
					return false;
				return (bin->getLHS()->getType()->isPointerType() &&
					points_to_kernel(bin->getLHS())) ||
				       (bin->getRHS()->getType()->isPointerType() &&
					points_to_kernel(bin->getRHS()));
			case clang::BO_Comma:
			case clang::BO_Assign:
				return points_to_kernel(bin->getRHS());
			default:
				return false;
			}
		}
		if (const auto *unary = llvm::dyn_cast<clang::UnaryOperator>(e)) {
			if (unary->getOpcode() == clang::UO_AddrOf)
				return in_kernel_memory(unary->getSubExpr());
			return false;
		}
		if (const auto *stmt = llvm::dyn_cast<clang::StmtExpr>(e)) {
			const clang::CompoundStmt *body = stmt->getSubStmt();
			if (!body->body_empty())
				if (const auto *last = llvm::dyn_cast<clang::Expr>(body->body_back()))
					return points_to_kernel(last);
		}
		return false;
	}

	// Whether the l-value e is an object in kernel memory (its reads need a probe read).
	bool in_kernel_memory(const clang::Expr *e) const
	{
		e = e->IgnoreParens();
		if (const auto *member = llvm::dyn_cast<clang::MemberExpr>(e))
			return member->isArrow() ? points_to_kernel(member->getBase())
						 : in_kernel_memory(member->getBase());
		if (const auto *unary = llvm::dyn_cast<clang::UnaryOperator>(e))
			return unary->getOpcode() == clang::UO_Deref &&
			       points_to_kernel(unary->getSubExpr());
		if (const auto *subscript = llvm::dyn_cast<clang::ArraySubscriptExpr>(e))
			return points_to_kernel(subscript->getBase());
		return false;
	}

	// Records the variables that an assignment or initialization makes hold kernel
	// pointers; returns whether it added one.
	bool note_assignment(const clang::Expr *lhs, const clang::Expr *rhs)
	{
		if (!points_to_kernel(rhs))
			return false;
		lhs = lhs->IgnoreParenImpCasts();
		// s.f = p: the struct variable s now holds a kernel pointer in a field.
		while (const auto *member = llvm::dyn_cast<clang::MemberExpr>(lhs)) {
			if (member->isArrow())
				return false;
			lhs = member->getBase()->IgnoreParenImpCasts();
		}
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(lhs))
			return note_variable(ref->getDecl());
		return false;
	}

	bool note_variable(const clang::ValueDecl *v)
	{
		return variables.insert(v).second;
	}

private:
	// A value that can carry a kernel address: a pointer, a 64-bit integer (raw
	// tracepoint arguments, registers), or a struct (copied out of kernel memory).
	static bool may_hold_pointer(clang::QualType t)
	{
		t = t.getCanonicalType();
		if (t->isPointerType() || t->isRecordType())
			return true;
		if (const auto *builtin = t->getAs<clang::BuiltinType>())
			return builtin->isInteger() &&
			       (builtin->getKind() == clang::BuiltinType::Long ||
				builtin->getKind() == clang::BuiltinType::ULong ||
				builtin->getKind() == clang::BuiltinType::LongLong ||
				builtin->getKind() == clang::BuiltinType::ULongLong);
		return false;
	}

	// A syscall tracepoint's arguments point into the calling process's memory.
	static bool is_user_context(const clang::ParmVarDecl *p)
	{
		clang::QualType t = p->getType();
		if (!t->isPointerType())
			return true;
		const clang::RecordType *record = t->getPointeeType()->getAs<clang::RecordType>();
		return record && record->getDecl()->getName().startswith("tracepoint__syscalls__");
	}

	// Whether the value read from the l-value e is a kernel pointer.
	bool loads_kernel_pointer(const clang::Expr *e) const
	{
		if (!may_hold_pointer(e->getType()))
			return false;
		if (in_kernel_memory(e) || reads_context(e))
			return true;
		const clang::Expr *base = e->IgnoreParens();
		// A variable, or a field of a struct variable, that was given a kernel pointer.
		while (const auto *member = llvm::dyn_cast<clang::MemberExpr>(base)) {
			if (member->isArrow())
				return false;
			base = member->getBase()->IgnoreParens();
		}
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(base))
			return variables.count(ref->getDecl()) != 0;
		return false;
	}

	// ctx->field, ctx->args[i]: a value the program's context hands it.
	bool reads_context(const clang::Expr *e) const
	{
		if (!context)
			return false;
		e = e->IgnoreParenCasts();
		for (;;) {
			if (const auto *subscript = llvm::dyn_cast<clang::ArraySubscriptExpr>(e)) {
				e = subscript->getBase()->IgnoreParenCasts();
			} else if (const auto *member = llvm::dyn_cast<clang::MemberExpr>(e)) {
				e = member->getBase()->IgnoreParenCasts();
				if (member->isArrow())
					break;
			} else {
				return false;
			}
		}
		const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e);
		return ref && ref->getDecl() == context;
	}

	const clang::FunctionDecl *fn;
	const clang::ParmVarDecl *context = nullptr;
	std::set<const clang::ValueDecl *> variables;
};

// Finds the variables that hold kernel pointers, until no more are found.
class Assignments : public clang::RecursiveASTVisitor<Assignments> {
public:
	explicit Assignments(KernelPointers &pointers) : pointers(pointers) {}
	bool changed = false;

	bool VisitVarDecl(clang::VarDecl *v)
	{
		if (v->getInit() && pointers.points_to_kernel(v->getInit()))
			changed |= pointers.note_variable(v);
		return true;
	}

	bool VisitBinaryOperator(clang::BinaryOperator *op)
	{
		if (op->getOpcode() == clang::BO_Assign)
			changed |= pointers.note_assignment(op->getLHS(), op->getRHS());
		return true;
	}

private:
	KernelPointers &pointers;
};

// Wraps every load from kernel memory in a probe read, outermost first.
class Reads : public clang::RecursiveASTVisitor<Reads> {
public:
	Reads(const KernelPointers &pointers, SourceEdits &edits) : pointers(pointers), edits(edits) {}

	// sizeof, alignof and typeof read nothing.
	bool TraverseUnaryExprOrTypeTraitExpr(clang::UnaryExprOrTypeTraitExpr *) { return true; }
	bool TraverseTypeOfExprTypeLoc(clang::TypeOfExprTypeLoc) { return true; }

	bool VisitImplicitCastExpr(clang::ImplicitCastExpr *cast)
	{
		if (cast->getCastKind() != clang::CK_LValueToRValue)
			return true;
		const clang::Expr *read = cast->getSubExpr();
		if (!pointers.in_kernel_memory(read) || is_bit_field(read))
			return true;
		std::string text = edits.text(read->getSourceRange());
		if (text.empty())
			return true;
		edits.wrap(read->getSourceRange(),
			   "({ __typeof__(" + text + ") _bpflua_val; bpf_probe_read_kernel("
			   "(void *)&_bpflua_val, sizeof(_bpflua_val), &(",
			   ")); _bpflua_val; })");
		return true;
	}

private:
	static bool is_bit_field(const clang::Expr *e)
	{
		const auto *member = llvm::dyn_cast<clang::MemberExpr>(e->IgnoreParens());
		const auto *field = member ? llvm::dyn_cast<clang::FieldDecl>(member->getMemberDecl())
					   : nullptr;
		return field && field->isBitField();
	}

	const KernelPointers &pointers;
	SourceEdits &edits;
};

} // namespace

void bcc_kernel_reads(clang::ASTContext &ctx, SourceEdits &edits, clang::FunctionDecl *fn)
{
	(void)ctx;
	KernelPointers pointers(fn);
	for (int round = 0; round < 16; round++) {
		Assignments assignments(pointers);
		assignments.TraverseStmt(fn->getBody());
		if (!assignments.changed)
			break;
	}
	Reads(pointers, edits).TraverseStmt(fn->getBody());
}
