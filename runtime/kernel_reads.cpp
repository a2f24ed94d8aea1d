// bcc's implicit kernel reads: a probe may write `task->real_parent->tgid` where task points
// into kernel memory, which BPF can only read with a probe read. This pass finds the
// pointers that come from kernel memory and wraps each read through them:
//
//   task->real_parent->tgid
//   ({ __typeof__(task->real_parent->tgid) _bpflua_val;
//      bpflua_implicit_read(&_bpflua_val, sizeof(_bpflua_val), &(
//          ({ ...the same for task->real_parent... })->tgid)); _bpflua_val; })
//
// The kernel's types carry preserve_access_index (vmlinux.h), so the address taken in each
// read is CO-RE relocated: a cached object reads the right offsets on another kernel.
//
// Where kernel pointers come from: bpf_get_current_task(); a probe's arguments after ctx
// (probe_args.cpp); pointers read out of ctx (a tracepoint's fields, a raw tracepoint's
// args[], the registers); pointers kept in maps whose values are pointers. Following them:
// pointers read through kernel pointers, addresses inside kernel memory (&p->field,
// p->array), pointer arithmetic, casts, ternaries; variables and struct fields assigned any
// of these, also through pointers to them (`struct sock **pp = &p; *pp = sk;`); arguments
// of static helpers and what helpers return. As in bcc, this is tracked over the whole
// program without regard to order, until nothing more is found. Each value carries the set
// of "levels" at which it leads to kernel memory: level 0 is a kernel pointer, level 1 a
// pointer to a (local) kernel pointer, and so on.
//
// A read is a load of a value out of kernel memory: taking an address (&p->x), sizeof and
// typeof read nothing and are left alone; a bit field, which has no address, is read with
// a CO-RE bit field read (BPF_CORE_READ_BITFIELD_PROBED). Pointers to user memory (a
// syscall tracepoint's fields) are not followed: reading user memory stays explicit, with
// bpf_probe_read_user. A probe function's arguments are followed, and may be a uprobe's
// user pointers: bpflua_implicit_read is bcc's generic bpf_probe_read where the
// architecture allows it (bpf/bpflua/bcc_compat.h).

#include "bcc_rules.h"

#include <clang/AST/Expr.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/Basic/SourceManager.h>

#include <map>

namespace {

typedef unsigned Levels; // bit k: k dereferences lead to a kernel pointer

class KernelPointers {
public:
	void add_program(const clang::FunctionDecl *fn)
	{
		if (fn->getNumParams() > 0 && fn->getStorageClass() != clang::SC_Static &&
		    !fn->isInlineSpecified() && hands_out_kernel_pointers(fn->getParamDecl(0)))
			contexts.insert(fn->getParamDecl(0));
		if (bcc_probe_takes_registers(fn))
			for (unsigned i = 1; i < fn->getNumParams(); i++)
				if (may_hold_pointer(fn->getParamDecl(i)->getType()))
					note_variable(fn->getParamDecl(i), 1);
	}

	// The levels of the (r-value) expression e.
	Levels levels(const clang::Expr *e) const
	{
		e = e->IgnoreParens();
		if (const auto *cast = llvm::dyn_cast<clang::CastExpr>(e)) {
			switch (cast->getCastKind()) {
			case clang::CK_ArrayToPointerDecay:
				return address_levels(cast->getSubExpr());
			case clang::CK_LValueToRValue:
				return may_hold_pointer(e->getType()) ? stored_levels(cast->getSubExpr())
								      : 0;
			default:
				return levels(cast->getSubExpr());
			}
		}
		if (const auto *call = llvm::dyn_cast<clang::CallExpr>(e))
			return call_levels(call);
		if (const auto *cond = llvm::dyn_cast<clang::AbstractConditionalOperator>(e))
			return levels(cond->getTrueExpr()) | levels(cond->getFalseExpr());
		if (const auto *bin = llvm::dyn_cast<clang::BinaryOperator>(e)) {
			switch (bin->getOpcode()) {
			case clang::BO_Add:
			case clang::BO_Sub:
				if (e->getType()->isPointerType())
					return (bin->getLHS()->getType()->isPointerType() ? levels(bin->getLHS()) : 0) |
					       (bin->getRHS()->getType()->isPointerType() ? levels(bin->getRHS()) : 0);
				// An address as an integer, moved by an offset: bcc's tcpaccept reads
				// *(u8 *)((u64)&sk->sk_gso_max_segs - 3). The difference of two
				// addresses is no address.
				if (!may_hold_pointer(e->getType()) || e->getType()->isRecordType() ||
				    (bin->getOpcode() == clang::BO_Sub &&
				     bin->getRHS()->getType()->isPointerType()))
					return 0;
				return levels(bin->getLHS()) |
				       (bin->getOpcode() == clang::BO_Add ? levels(bin->getRHS()) : 0);
			case clang::BO_Comma:
			case clang::BO_Assign:
				return levels(bin->getRHS());
			default:
				return 0;
			}
		}
		if (const auto *unary = llvm::dyn_cast<clang::UnaryOperator>(e))
			return unary->getOpcode() == clang::UO_AddrOf
				       ? address_levels(unary->getSubExpr())
				       : 0;
		if (const auto *stmt = llvm::dyn_cast<clang::StmtExpr>(e)) {
			const clang::CompoundStmt *body = stmt->getSubStmt();
			if (!body->body_empty())
				if (const auto *last = llvm::dyn_cast<clang::Expr>(body->body_back()))
					return levels(last);
		}
		return 0;
	}

	// Whether the l-value e is an object in kernel memory (reading it needs a probe read).
	bool in_kernel_memory(const clang::Expr *e) const
	{
		e = e->IgnoreParens();
		if (const auto *member = llvm::dyn_cast<clang::MemberExpr>(e))
			return member->isArrow() ? levels(member->getBase()) & 1
						 : in_kernel_memory(member->getBase());
		if (const auto *pointee = pointer_of(e))
			return levels(pointee) & 1;
		return false;
	}

	// After `lhs = value` (or an initialization): what lhs's storage now holds. Returns
	// whether anything new was learnt.
	bool note_store(const clang::Expr *lhs, Levels value)
	{
		if (!value)
			return false;
		lhs = lhs->IgnoreParenImpCasts();
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(lhs))
			return note_variable(ref->getDecl(), value);
		if (const auto *member = llvm::dyn_cast<clang::MemberExpr>(lhs)) {
			// As bcc: the field holds it wherever the struct is (lp->ptr = sk makes
			// l.ptr a kernel pointer when lp = &l), and so does the variable.
			bool changed = note_variable(member->getMemberDecl(), value);
			if (!member->isArrow())
				return note_store(member->getBase(), value) | changed;
			return note_pointer(member->getBase(), value) | changed;
		}
		if (const auto *pointer = pointer_of(lhs))
			return note_pointer(pointer, value);
		return false;
	}

	bool note_variable(const clang::ValueDecl *v, Levels value) { return note(variables, v, value); }
	bool note_return(const clang::FunctionDecl *fn, Levels value)
	{
		return note(returns, fn, value);
	}

private:
	template <typename Key>
	static bool note(std::map<const Key *, Levels> &m, const Key *k, Levels value)
	{
		Levels &l = m[k];
		Levels before = l;
		l |= value & 0xff;
		return l != before;
	}

	// A store through the pointer expression p: the variable p reads points to storage
	// that now holds value.
	bool note_pointer(const clang::Expr *p, Levels value)
	{
		p = p->IgnoreParenCasts();
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(p))
			return note_variable(ref->getDecl(), value << 1);
		return false;
	}

	// The pointer that *p, p[i] dereference.
	static const clang::Expr *pointer_of(const clang::Expr *e)
	{
		if (const auto *unary = llvm::dyn_cast<clang::UnaryOperator>(e))
			return unary->getOpcode() == clang::UO_Deref ? unary->getSubExpr() : nullptr;
		if (const auto *subscript = llvm::dyn_cast<clang::ArraySubscriptExpr>(e))
			return subscript->getBase();
		return nullptr;
	}

	// The levels of &e.
	Levels address_levels(const clang::Expr *e) const
	{
		return (in_kernel_memory(e) ? 1 : 0) | (stored_levels(e) << 1);
	}

	// The levels of the value stored in the l-value e.
	Levels stored_levels(const clang::Expr *e) const
	{
		e = e->IgnoreParens();
		bool pointerish = may_hold_pointer(e->getType());
		if (const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(e)) {
			auto it = variables.find(ref->getDecl());
			return it == variables.end() ? 0 : it->second;
		}
		if (reads_context(e))
			return pointerish ? 1 : 0;
		const clang::Expr *pointer = pointer_of(e);
		Levels field = 0;
		if (const auto *member = llvm::dyn_cast<clang::MemberExpr>(e)) {
			auto it = variables.find(member->getMemberDecl());
			field = it == variables.end() ? 0 : it->second;
			if (!member->isArrow())
				return field | stored_levels(member->getBase()) |
				       (pointerish && in_kernel_memory(member->getBase()) ? 1 : 0);
			pointer = member->getBase();
		}
		if (!pointer)
			return 0;
		// Read from kernel memory: a kernel pointer. Read from local storage that a
		// pointer of level k points to: level k - 1.
		Levels through = levels(pointer);
		return field | ((through & 1) && pointerish ? 1 : 0) | (through >> 1);
	}

	Levels call_levels(const clang::CallExpr *call) const
	{
		// libbpf declares helpers as pointers: static long (*bpf_...)(void) = (void *)35;
		const auto *callee =
			llvm::dyn_cast<clang::DeclRefExpr>(call->getCallee()->IgnoreParenImpCasts());
		if (!callee)
			return 0;
		llvm::StringRef name = callee->getDecl()->getName();
		if (name == "bpf_get_current_task")
			return 1;
		if (name == "bpf_map_lookup_elem" && call->getNumArgs() > 0)
			return map_value_levels(call->getArg(0));
		const auto *fn = llvm::dyn_cast<clang::FunctionDecl>(callee->getDecl());
		if (!fn || !fn->getDefinition())
			return 0;
		auto it = returns.find(fn->getDefinition());
		return it == returns.end() ? 0 : it->second;
	}

	// A map whose values are pointers keeps kernel pointers (a program can keep no other
	// pointer in a map): its lookups point to kernel pointers.
	static Levels map_value_levels(const clang::Expr *map_address)
	{
		const auto *address = llvm::dyn_cast<clang::UnaryOperator>(map_address->IgnoreParenCasts());
		if (!address || address->getOpcode() != clang::UO_AddrOf)
			return 0;
		const clang::RecordType *record =
			address->getSubExpr()->IgnoreParens()->getType()->getAs<clang::RecordType>();
		if (!record)
			return 0;
		for (const clang::FieldDecl *field : record->getDecl()->fields())
			if (field->getName() == "value" && field->getType()->isPointerType() &&
			    field->getType()->getPointeeType()->isPointerType())
				return 2;
		return 0;
	}

	// ctx->field, ctx->args[i]: a value a program's context hands it.
	bool reads_context(const clang::Expr *e) const
	{
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
		return ref && contexts.count(ref->getDecl());
	}

	// A value that can carry a kernel address: a pointer, a 64-bit integer (raw
	// tracepoint arguments, registers), or a struct (copied out of kernel memory).
	static bool may_hold_pointer(clang::QualType t)
	{
		t = t.getCanonicalType();
		if (t->isPointerType() || t->isRecordType())
			return true;
		if (const auto *builtin = t->getAs<clang::BuiltinType>())
			return builtin->getKind() == clang::BuiltinType::Long ||
			       builtin->getKind() == clang::BuiltinType::ULong ||
			       builtin->getKind() == clang::BuiltinType::LongLong ||
			       builtin->getKind() == clang::BuiltinType::ULongLong;
		return false;
	}

	// Whether pointers a program reads out of its context p point into kernel memory that
	// only a probe read reaches. Not a syscall tracepoint's (they point into the calling
	// process's memory), nor BPF_PROG's u64 *ctx (fentry, LSM, tp_btf: typed kernel
	// pointers the verifier lets a program read directly), nor a networking program's.
	static bool hands_out_kernel_pointers(const clang::ParmVarDecl *p)
	{
		clang::QualType t = p->getType();
		if (!t->isPointerType())
			return false;
		clang::QualType pointee = t->getPointeeType().getCanonicalType();
		if (pointee->isIntegerType())
			return false;
		const clang::RecordType *record = pointee->getAs<clang::RecordType>();
		if (!record)
			return true;
		llvm::StringRef name = record->getDecl()->getName();
		// Networking contexts hand out pointers the verifier types (packet data,
		// struct bpf_sock): a probe read of those would read the wrong thing.
		static const char *const typed_contexts[] = {
			"tracepoint__syscalls__", "__sk_buff", "xdp_md", "sk_msg_md", "sk_reuseport_md",
			"bpf_sock", "bpf_sk_lookup", "bpf_cgroup_dev_ctx", "bpf_sysctl", "bpf_nf_ctx",
			"bpf_flow_keys",
		};
		for (const char *prefix : typed_contexts)
			if (name.startswith(prefix))
				return false;
		return true;
	}

	std::set<const clang::ValueDecl *> contexts;
	std::map<const clang::ValueDecl *, Levels> variables;
	std::map<const clang::FunctionDecl *, Levels> returns;
};

// One round of finding what holds kernel pointers.
class Assignments : public clang::RecursiveASTVisitor<Assignments> {
public:
	Assignments(KernelPointers &pointers, const clang::FunctionDecl *fn)
		: pointers(pointers), fn(fn) {}
	bool changed = false;

	bool VisitVarDecl(clang::VarDecl *v)
	{
		if (v->getInit())
			changed |= pointers.note_variable(v, pointers.levels(v->getInit()));
		return true;
	}

	bool VisitBinaryOperator(clang::BinaryOperator *op)
	{
		if (op->getOpcode() == clang::BO_Assign)
			changed |= pointers.note_store(op->getLHS(), pointers.levels(op->getRHS()));
		return true;
	}

	// A helper's parameters take what its callers pass.
	bool VisitCallExpr(clang::CallExpr *call)
	{
		const clang::FunctionDecl *callee = call->getDirectCallee();
		const clang::FunctionDecl *def = nullptr;
		if (!callee || !callee->isDefined(def))
			return true;
		for (unsigned i = 0; i < call->getNumArgs() && i < def->getNumParams(); i++)
			changed |= pointers.note_variable(def->getParamDecl(i),
							  pointers.levels(call->getArg(i)));
		return true;
	}

	bool VisitReturnStmt(clang::ReturnStmt *ret)
	{
		if (ret->getRetValue())
			changed |= pointers.note_return(fn->getDefinition() ? fn->getDefinition() : fn,
							pointers.levels(ret->getRetValue()));
		return true;
	}

private:
	KernelPointers &pointers;
	const clang::FunctionDecl *fn;
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
		if (!pointers.in_kernel_memory(read))
			return true;
		if (is_bit_field(read)) {
			read_bit_field(llvm::cast<clang::MemberExpr>(read->IgnoreParens()));
			return true;
		}
		// The read as spelled: (v) in a macro's body reads the argument v.
		std::string text = edits.text(read->getSourceRange());
		while (text.empty() && llvm::isa<clang::ParenExpr>(read)) {
			read = llvm::cast<clang::ParenExpr>(read)->getSubExpr();
			text = edits.text(read->getSourceRange());
		}
		if (text.empty())
			return true;
		edits.wrap(read->getSourceRange(),
			   "({ __typeof__(" + text + ") _bpflua_val; bpflua_implicit_read("
			   "(void *)&_bpflua_val, sizeof(_bpflua_val), &(",
			   ")); _bpflua_val; })");
		return true;
	}

private:
	// A bit field cannot be addressed, so it is read as libbpf's
	// BPF_CORE_READ_BITFIELD_PROBED does: the bytes that hold it, CO-RE relocated, then
	// shifted. `p->bits` becomes `((T)BPF_CORE_READ_BITFIELD_PROBED(p, bits))` and `s.bits`
	// `((T)BPF_CORE_READ_BITFIELD_PROBED(&(s), bits))`, T the field's type: the text of p or s
	// stays where it is, so reads inside it are edited as anywhere else.
	void read_bit_field(const clang::MemberExpr *member)
	{
		clang::SourceLocation base_begin, base_end, op_begin, op_end;
		if (!edits.file_range(member->getBase()->getSourceRange(), base_begin, base_end) ||
		    !edits.file_range(clang::SourceRange(member->getOperatorLoc(), member->getMemberLoc()),
				      op_begin, op_end) ||
		    base_end != op_begin)
			return;
		std::string type = member->getType().getCanonicalType().getUnqualifiedType().getAsString();
		bool arrow = member->isArrow();
		edits.insert(base_begin,
			     "((" + type + ")BPF_CORE_READ_BITFIELD_PROBED(" + (arrow ? "" : "&("),
			     /*after=*/true);
		edits.replace(op_begin, op_end,
			      std::string(arrow ? "" : ")") + ", " +
				      member->getMemberDecl()->getNameAsString() + "))");
	}

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

void bcc_kernel_reads(SourceEdits &edits, const std::vector<clang::FunctionDecl *> &functions)
{
	KernelPointers pointers;
	for (const clang::FunctionDecl *fn : functions)
		pointers.add_program(fn);
	for (int round = 0; round < 32; round++) {
		bool changed = false;
		for (clang::FunctionDecl *fn : functions) {
			Assignments assignments(pointers, fn);
			assignments.TraverseStmt(fn->getBody());
			changed |= assignments.changed;
		}
		if (!changed)
			break;
	}
	for (clang::FunctionDecl *fn : functions)
		Reads(pointers, edits).TraverseStmt(fn->getBody());
}
