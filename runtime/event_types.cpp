// Which C type each ring buffer carries, found in the AST, and that type written as a LuaJIT
// FFI declaration with the same layout.
//
// A struct used only by a local variable never reaches the object's BTF, so the type must
// come from the source: the pointee of the data argument of ringbuf_output or perf_submit,
// or the type that ringbuf_reserve's result is assigned to, or else the type its size
// argument names.

#include "event_types.h"

#include <clang/AST/ASTConsumer.h>
#include <clang/AST/ASTContext.h>
#include <clang/AST/Attr.h>
#include <clang/AST/Decl.h>
#include <clang/AST/Expr.h>
#include <clang/AST/RecordLayout.h>
#include <clang/AST/RecursiveASTVisitor.h>

#include <map>
#include <string>

namespace {

// ---- The layout as FFI C ------------------------------------------------------------------

// Writes a declaration of `name` with type qt in C that LuaJIT's FFI parses into the same
// layout: fixed-width integers, pointers as uint64_t (kernel addresses mean nothing to Lua),
// records inline, typedefs resolved.
std::string declare(clang::ASTContext &ctx, clang::QualType qt, const std::string &name);

std::string int_type(clang::ASTContext &ctx, clang::QualType qt)
{
	uint64_t bits = ctx.getTypeSize(qt);
	bool is_signed = qt->isSignedIntegerOrEnumerationType();
	if (bits != 8 && bits != 16 && bits != 32 && bits != 64)
		return "";
	return std::string(is_signed ? "int" : "uint") + std::to_string(bits) + "_t";
}

std::string declare_record(clang::ASTContext &ctx, const clang::RecordDecl *record)
{
	std::string out = record->isUnion() ? "union " : "struct ";
	if (record->hasAttr<clang::PackedAttr>())
		out += "__attribute__((packed)) ";
	out += "{ ";
	for (const clang::FieldDecl *field : record->fields()) {
		std::string name = field->getNameAsString();
		if (field->isBitField()) {
			std::string base = int_type(ctx, field->getType());
			out += (base.empty() ? "uint32_t" : base) + " " + name + " : " +
			       std::to_string(field->getBitWidthValue(ctx)) + "; ";
			continue;
		}
		out += declare(ctx, field->getType(), name);
		if (const auto *aligned = field->getAttr<clang::AlignedAttr>())
			out += " __attribute__((aligned(" +
			       std::to_string(aligned->getAlignment(ctx) / 8) + ")))";
		out += "; ";
	}
	return out + "}";
}

std::string declare(clang::ASTContext &ctx, clang::QualType qt, const std::string &name)
{
	qt = qt.getCanonicalType().getUnqualifiedType();
	std::string spaced = name.empty() ? "" : " " + name;
	if (const auto *array = ctx.getAsConstantArrayType(qt))
		return declare(ctx, array->getElementType(),
			       name + "[" + std::to_string(array->getSize().getZExtValue()) + "]");
	if (qt->isPointerType())
		return "uint64_t" + spaced;
	if (const auto *builtin = qt->getAs<clang::BuiltinType>()) {
		switch (builtin->getKind()) {
		case clang::BuiltinType::Char_S:
		case clang::BuiltinType::Char_U:
			return "char" + spaced; // so that ffi.string reads char arrays as text
		case clang::BuiltinType::Bool:
			return "bool" + spaced;
		case clang::BuiltinType::Float:
			return "float" + spaced;
		case clang::BuiltinType::Double:
			return "double" + spaced;
		default:
			break;
		}
	}
	if (qt->isIntegerType() || qt->isEnumeralType()) {
		std::string t = int_type(ctx, qt);
		if (!t.empty())
			return t + spaced;
	}
	if (const auto *record = qt->getAsRecordDecl())
		return declare_record(ctx, record) + spaced;
	// Anything else (vectors, 128-bit integers) is its bytes.
	return "uint8_t" + spaced + "[" + std::to_string(ctx.getTypeSizeInChars(qt).getQuantity()) +
	       "]";
}

// ---- Finding each ring's type --------------------------------------------------------------

const clang::Expr *strip(const clang::Expr *e)
{
	for (;;) {
		e = e->IgnoreParenImpCasts();
		const auto *cast = llvm::dyn_cast<clang::CStyleCastExpr>(e);
		if (!cast || !cast->getType()->isVoidPointerType())
			return e;
		e = cast->getSubExpr(); // (void *)&e says nothing; look through it
	}
}

// The name of the helper a call calls: libbpf's helpers are function-pointer variables.
std::string callee_name(const clang::CallExpr *call)
{
	const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(strip(call->getCallee()));
	return ref ? ref->getDecl()->getNameAsString() : "";
}

// The ring a helper's argument (&ring) names: the first for the ring buffer helpers, the
// second for bpf_perf_event_output(ctx, &map, flags, data, size).
std::string ring_name(const clang::CallExpr *call, unsigned arg = 0)
{
	if (call->getNumArgs() <= arg)
		return "";
	const auto *addr = llvm::dyn_cast<clang::UnaryOperator>(strip(call->getArg(arg)));
	if (!addr || addr->getOpcode() != clang::UO_AddrOf)
		return "";
	const auto *ref = llvm::dyn_cast<clang::DeclRefExpr>(strip(addr->getSubExpr()));
	return ref ? ref->getDecl()->getNameAsString() : "";
}

// The bpf_ringbuf_reserve call whose result e is: the call itself, or the statement
// expression that bpflua's ringbuf_reserve wraps around it to count drops.
const clang::CallExpr *reserve_call(const clang::Stmt *s)
{
	if (!s)
		return nullptr;
	if (const auto *e = llvm::dyn_cast<clang::Expr>(s)) {
		const auto *call = llvm::dyn_cast<clang::CallExpr>(strip(e));
		if (call && callee_name(call) == "bpf_ringbuf_reserve")
			return call;
		s = strip(e);
		if (!llvm::isa<clang::StmtExpr>(s))
			return nullptr;
		s = llvm::cast<clang::StmtExpr>(s)->getSubStmt();
	}
	if (const auto *decls = llvm::dyn_cast<clang::DeclStmt>(s)) {
		for (const clang::Decl *d : decls->decls())
			if (const auto *var = llvm::dyn_cast<clang::VarDecl>(d))
				if (const clang::CallExpr *call = reserve_call(var->getInit()))
					return call;
		return nullptr;
	}
	if (llvm::isa<clang::CompoundStmt>(s))
		for (const clang::Stmt *child : s->children())
			if (const clang::CallExpr *call = reserve_call(child))
				return call;
	return nullptr;
}

class RingTypeFinder : public clang::RecursiveASTVisitor<RingTypeFinder> {
public:
	explicit RingTypeFinder(clang::ASTContext &ctx) : ctx(ctx) {}

	// ring name -> the event type, by how sure the source is about it (lower is surer).
	std::map<std::string, std::pair<int, clang::QualType>> found;

	bool VisitCallExpr(clang::CallExpr *call)
	{
		std::string callee = callee_name(call);
		if (callee == "bpf_ringbuf_output" && call->getNumArgs() >= 2) {
			clang::QualType data = strip(call->getArg(1))->getType();
			if (data->isPointerType())
				note(ring_name(call), 0, data->getPointeeType());
		} else if (callee == "bpf_perf_event_output" && call->getNumArgs() >= 5) {
			clang::QualType data = strip(call->getArg(3))->getType();
			if (data->isPointerType())
				note(ring_name(call, 1), 0, data->getPointeeType());
		} else if (callee == "bpf_ringbuf_reserve" && call->getNumArgs() >= 2) {
			const auto *size = llvm::dyn_cast<clang::UnaryExprOrTypeTraitExpr>(
				strip(call->getArg(1)));
			if (size && size->getKind() == clang::UETT_SizeOf)
				note(ring_name(call), 2, size->getTypeOfArgument());
		}
		return true;
	}

	bool VisitVarDecl(clang::VarDecl *var)
	{
		if (const clang::CallExpr *call = reserve_call(var->getInit()))
			note_pointer(ring_name(call), var->getType());
		return true;
	}

	bool VisitBinaryOperator(clang::BinaryOperator *op)
	{
		if (op->getOpcode() == clang::BO_Assign)
			if (const clang::CallExpr *call = reserve_call(op->getRHS()))
				note_pointer(ring_name(call), op->getLHS()->getType());
		return true;
	}

private:
	clang::ASTContext &ctx;

	void note_pointer(const std::string &ring, clang::QualType pointer)
	{
		if (pointer->isPointerType() && !pointer->isVoidPointerType())
			note(ring, 1, pointer->getPointeeType());
	}

	void note(const std::string &ring, int rank, clang::QualType type)
	{
		if (ring.empty() || type->isVoidType() || type->isIncompleteType())
			return;
		auto it = found.find(ring);
		if (it == found.end() || rank < it->second.first)
			found[ring] = {rank, type};
	}
};

class EventTypeConsumer : public clang::ASTConsumer {
public:
	explicit EventTypeConsumer(std::string &out) : out(out) {}

	void Initialize(clang::ASTContext &context) override
	{
		finder = std::make_unique<RingTypeFinder>(context);
	}

	// Only the declarations parsed from the program itself come here, not the prelude's
	// from the PCH: walking those would deserialize all of vmlinux.h.
	bool HandleTopLevelDecl(clang::DeclGroupRef group) override
	{
		for (clang::Decl *d : group)
			finder->TraverseDecl(d);
		return true;
	}

	void HandleTranslationUnit(clang::ASTContext &ctx) override
	{
		for (const auto &[ring, ranked] : finder->found) {
			clang::QualType type = ranked.second;
			// "event RING SIZE NAME DECL" then one "field NAME OFFSET" per member, so
			// the Lua side can check that the FFI agrees with the compiler.
			out += "event\t" + ring + "\t" +
			       std::to_string(ctx.getTypeSizeInChars(type).getQuantity()) + "\t" +
			       type.getAsString() + "\t" + declare(ctx, type, "") + "\n";
			const clang::RecordDecl *record = type.getCanonicalType()->getAsRecordDecl();
			if (!record)
				continue;
			const clang::ASTRecordLayout &layout = ctx.getASTRecordLayout(record);
			for (const clang::FieldDecl *field : record->fields())
				if (!field->isBitField() && !field->getName().empty())
					out += "field\t" + ring + "\t" + field->getNameAsString() + "\t" +
					       std::to_string(layout.getFieldOffset(
								      field->getFieldIndex()) / 8) + "\n";
		}
	}

private:
	std::string &out;
	std::unique_ptr<RingTypeFinder> finder;
};

} // namespace

std::unique_ptr<clang::ASTConsumer> bpflua_event_type_consumer(std::string &out)
{
	return std::make_unique<EventTypeConsumer>(out);
}
