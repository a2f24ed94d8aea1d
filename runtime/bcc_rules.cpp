// The pass that applies bcc's frontend rules to each function of the user's text, and the
// edits they share (see bcc_rules.h).

#include "bcc_rules.h"

#include <clang/AST/Attr.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/Basic/DiagnosticSema.h>
#include <clang/Basic/SourceManager.h>
#include <clang/Frontend/MultiplexConsumer.h>
#include <clang/Lex/Lexer.h>

#include <algorithm>
#include <vector>

// ---- Edits ------------------------------------------------------------------------------

bool SourceEdits::file_range(clang::SourceRange r, clang::SourceLocation &begin,
			     clang::SourceLocation &end) const
{
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	clang::SourceLocation b = r.getBegin(), e = r.getEnd();
	if (b.isInvalid() || e.isInvalid())
		return false;
	// Through macro arguments to where they were spelled; both ends must come from the
	// same argument, or the range would take in the macro's own text. An expression that
	// is a macro's whole expansion (PT_REGS_PARM1(regs)) is edited as the macro's use.
	const clang::LangOptions &lang = rewriter.getLangOpts();
	while (b.isMacroID() || e.isMacroID()) {
		clang::SourceLocation use_begin, use_end;
		// Tokens of one argument were substituted for the same parameter in the body.
		if (b.isMacroID() && e.isMacroID() && sm.isMacroArgExpansion(b) &&
		    sm.isMacroArgExpansion(e) &&
		    sm.getImmediateExpansionRange(b).getBegin() ==
			    sm.getImmediateExpansionRange(e).getBegin()) {
			b = sm.getImmediateSpellingLoc(b);
			e = sm.getImmediateSpellingLoc(e);
		} else if ((!b.isMacroID() ||
			    clang::Lexer::isAtStartOfMacroExpansion(b, sm, lang, &use_begin)) &&
			   (!e.isMacroID() ||
			    clang::Lexer::isAtEndOfMacroExpansion(e, sm, lang, &use_end))) {
			// Either end may be a macro's first or last token, each end its own
			// macro: `sk->sk_state` ends in sk_state's expansion
			// (__sk_common.skc_state), and the range is the text as written.
			if (b.isMacroID())
				b = use_begin;
			if (e.isMacroID())
				e = use_end;
		} else {
			return false;
		}
	}
	if (!sm.isWrittenInMainFile(b) || sm.getFileID(b) != sm.getFileID(e) ||
	    sm.getFileOffset(e) < sm.getFileOffset(b))
		return false;
	begin = b;
	end = clang::Lexer::getLocForEndOfToken(e, 0, sm, lang);
	return end.isValid();
}

std::string SourceEdits::text(clang::SourceRange r) const
{
	clang::SourceLocation b, e;
	if (!file_range(r, b, e))
		return "";
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	bool invalid = false;
	llvm::StringRef buffer = sm.getBufferData(sm.getFileID(b), &invalid);
	if (invalid)
		return "";
	return buffer.substr(sm.getFileOffset(b), sm.getFileOffset(e) - sm.getFileOffset(b)).str();
}

bool SourceEdits::wrap(clang::SourceRange r, const std::string &prefix, const std::string &suffix)
{
	clang::SourceLocation b, e;
	if (!file_range(r, b, e))
		return false;
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	if (!wrapped.insert({sm.getFileOffset(b), sm.getFileOffset(e)}).second)
		return false;
	// Outer wraps come first: a later prefix at the same place goes inside the earlier
	// ones, a later suffix at the same place before them.
	insert(b, prefix, /*after=*/true);
	insert(e, suffix, /*after=*/false);
	return true;
}

namespace {

// C text on one line: comments and line breaks become spaces, line splices go; string and
// character literals stay as they are.
std::string one_line(const std::string &text)
{
	std::string out;
	for (size_t i = 0; i < text.size(); i++) {
		char c = text[i];
		if (c == '"' || c == '\'') {
			size_t j = i + 1;
			while (j < text.size() && text[j] != c && text[j] != '\n')
				j += text[j] == '\\' ? 2 : 1;
			if (j < text.size() && text[j] == '\n') // unterminated: the break is a break
				j--;
			out += text.substr(i, j + 1 - i);
			i = j;
		} else if (c == '\\' && i + 1 < text.size() && text[i + 1] == '\n') {
			i++;
		} else if (c == '/' && i + 1 < text.size() && text[i + 1] == '/') {
			i = std::min(text.find('\n', i), text.size());
			out += ' ';
		} else if (c == '/' && i + 1 < text.size() && text[i + 1] == '*') {
			size_t end = text.find("*/", i + 2);
			i = end == std::string::npos ? text.size() : end + 1;
			out += ' ';
		} else {
			out += c == '\n' || c == '\r' ? ' ' : c;
		}
	}
	return out;
}

} // namespace

void SourceEdits::insert(clang::SourceLocation loc, const std::string &text, bool after)
{
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	rewriter.InsertText(loc, one_line(text), after);
	edit_points.insert(sm.getFileOffset(loc));
}

void SourceEdits::replace(clang::SourceLocation begin, clang::SourceLocation end,
			  const std::string &text)
{
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	unsigned from = sm.getFileOffset(begin), to = sm.getFileOffset(end);
	bool invalid = false;
	llvm::StringRef old = sm.getBufferData(sm.getFileID(begin), &invalid).substr(from, to - from);
	size_t breaks = invalid ? 0 : old.count('\n');
	std::string with = text;
	if ((size_t)std::count(text.begin(), text.end(), '\n') != breaks)
		with = one_line(text) + std::string(breaks, '\n');
	rewriter.ReplaceText(begin, to - from, with);
	edit_points.insert(from);
	edit_points.insert(to);
	replaced.emplace_back(from, to);
}

EditMap SourceEdits::map() const
{
	EditMap m;
	const clang::SourceManager &sm = rewriter.getSourceMgr();
	clang::FileID main = sm.getMainFileID();
	clang::SourceLocation start = sm.getLocForStartOfFile(main);
	unsigned size = sm.getFileIDSize(main);
	// Between two edit points the original text is either replaced or kept whole, moved
	// by what the edits before it added.
	std::vector<unsigned> cuts(edit_points.begin(), edit_points.end());
	cuts.push_back(0);
	cuts.push_back(size);
	std::sort(cuts.begin(), cuts.end());
	cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
	for (size_t i = 0; i + 1 < cuts.size(); i++) {
		unsigned from = cuts[i], to = cuts[i + 1];
		bool kept = std::none_of(replaced.begin(), replaced.end(), [&](const auto &r) {
			return r.first <= from && from < r.second;
		});
		if (!kept)
			continue;
		// The length of the edited text before the original offset `from`, counting what
		// was inserted at `from` itself.
		int moved = rewriter.getRangeSize(
			clang::CharSourceRange::getCharRange(start, start.getLocWithOffset(from)));
		if (moved >= 0)
			m.runs.push_back({(unsigned)moved, from, to - from});
	}
	return m;
}

unsigned EditMap::original(unsigned edited, bool *written) const
{
	auto after = std::upper_bound(runs.begin(), runs.end(), edited,
				      [](unsigned e, const Run &r) { return e < r.edited; });
	*written = true;
	if (after == runs.begin())
		return 0;
	const Run &run = *(after - 1);
	if (edited < run.edited + run.length) {
		*written = false;
		return run.original + (edited - run.edited);
	}
	// Text the rules wrote after this run: it replaced the text that followed the run, or
	// was inserted where the run ends.
	return run.original + run.length;
}

void bcc_rules_error(clang::ASTContext &ctx, clang::SourceLocation loc, const std::string &message)
{
	clang::DiagnosticsEngine &diags = ctx.getDiagnostics();
	unsigned id = diags.getCustomDiagID(clang::DiagnosticsEngine::Error, "%0");
	diags.Report(loc, id) << message;
}

// ---- The pass ---------------------------------------------------------------------------

namespace {

// bcc's rule: a non-static function is a program of its own (its own section, loaded on its
// own), so a program cannot call one; helpers must be static.
class HelperCalls : public clang::RecursiveASTVisitor<HelperCalls> {
public:
	explicit HelperCalls(clang::ASTContext &ctx) : ctx(ctx) {}

	// sizeof and typeof call nothing (libbpf's BPF_PROG names its own type typeof(f(0))).
	bool TraverseUnaryExprOrTypeTraitExpr(clang::UnaryExprOrTypeTraitExpr *) { return true; }
	bool TraverseTypeOfExprTypeLoc(clang::TypeOfExprTypeLoc) { return true; }

	bool VisitCallExpr(clang::CallExpr *call)
	{
		const clang::FunctionDecl *callee = call->getDirectCallee();
		const clang::FunctionDecl *def = nullptr;
		// C declares a function used before any declaration implicitly; in BPF there is
		// nothing to link it from, and the loader would fail on an extern without BTF.
		if (callee && callee->isImplicit() && !callee->getBuiltinID()) {
			bcc_rules_error(ctx, call->getBeginLoc(),
					"call to undeclared function '" + callee->getNameAsString() +
						"' (BPF programs cannot call functions that are not "
						"defined or declared before use: include its header or "
						"define it static)");
			return true;
		}
		if (!callee || !callee->isDefined(def) || def->getBuiltinID() ||
		    def->getStorageClass() == clang::SC_Static || def->isInlineSpecified() ||
		    !ctx.getSourceManager().isWrittenInMainFile(
			    ctx.getSourceManager().getFileLoc(def->getLocation())))
			return true;
		bcc_rules_error(ctx, call->getBeginLoc(),
				"cannot call non-static helper function '" + def->getNameAsString() +
					"': every non-static function is a program of its own; "
					"declare the helper static");
		return true;
	}

private:
	clang::ASTContext &ctx;
};

// A string literal used as a pointer lives in .rodata, whose map the verifier bounds: a
// fixed-size copy out of a shorter literal (bcc's ext4dist copies 8 bytes out of "fsync")
// reads past the end of the map when the literal is the section's last. Such literals get
// NUL padding up to padded_literal_size bytes; their text and pointer stay the same.
class PaddedLiterals : public clang::RecursiveASTVisitor<PaddedLiterals> {
public:
	static const unsigned padded_literal_size = 64;

	explicit PaddedLiterals(SourceEdits &edits) : edits(edits) {}

	bool VisitImplicitCastExpr(clang::ImplicitCastExpr *cast)
	{
		const auto *literal =
			llvm::dyn_cast<clang::StringLiteral>(cast->getSubExpr()->IgnoreParens());
		if (cast->getCastKind() != clang::CK_ArrayToPointerDecay || !literal ||
		    literal->getCharByteWidth() != 1 ||
		    literal->getLength() + 1 >= padded_literal_size)
			return true;
		std::string padding = " \"";
		for (unsigned n = literal->getLength() + 1; n < padded_literal_size; n++)
			padding += "\\0";
		edits.wrap(literal->getSourceRange(), "", padding + "\"");
		return true;
	}

private:
	SourceEdits &edits;
};

// bcc's USDT generates a reader per probe function and argument ahead of the text
// (static int _bpf_readarg_FN_N(struct pt_regs *ctx, void *dest, size_t len)), and its
// frontend turns bpf_usdt_readarg(N, ctx, &v) in FN into a call of that reader. Without
// BPF{usdt_contexts = ...}, tables.h's bpf_usdt_readarg is a call of
// bpflua_usdt_readarg_unbound, which becomes that call here, or an error that says what the
// program needs.
class UsdtReaders : public clang::RecursiveASTVisitor<UsdtReaders> {
public:
	UsdtReaders(clang::ASTContext &ctx, SourceEdits &edits, const clang::FunctionDecl *fn)
		: ctx(ctx), edits(edits), fn(fn) {}

	bool VisitCallExpr(clang::CallExpr *call)
	{
		const clang::FunctionDecl *callee = call->getDirectCallee();
		if (!callee)
			return true;
		bool plain = callee->getName() == "bpflua_usdt_readarg_unbound";
		if (!plain && callee->getName() != "bpflua_usdt_readarg_p_unbound")
			return true;
		const char *what = plain ? "bpf_usdt_readarg" : "bpf_usdt_readarg_p";
		clang::Expr::EvalResult n;
		std::string reader;
		if (call->getNumArgs() == 4 && call->getArg(0)->EvaluateAsInt(n, ctx))
			reader = "_bpf_readarg_" + fn->getNameAsString() + "_" +
				 llvm::toString(n.Val.getInt(), 10);
		if (reader.empty() || !defines(reader)) {
			bcc_rules_error(ctx, call->getBeginLoc(),
					std::string(what) +
						" needs the program built with "
						"BPF{usdt_contexts = {u}} (or bcc's generated reader "
						"_bpf_readarg_" + fn->getNameAsString() + "_N)");
			return true;
		}
		// (The plain form's size is tables.h's, not the user's: sizeof(*(addr)).)
		std::string args[4];
		for (unsigned i = 1; i < 4; i++)
			if (!plain || i < 3)
				args[i] = edits.text(call->getArg(i)->IgnoreImpCasts()->getSourceRange());
		if (plain)
			args[3] = "sizeof(*(" + args[2] + "))";
		clang::SourceLocation begin, end;
		if (args[1].empty() || args[2].empty() || args[3].empty() ||
		    !edits.file_range(call->getSourceRange(), begin, end)) {
			bcc_rules_error(ctx, call->getBeginLoc(),
					std::string(what) + " cannot be read through " + reader +
						" from inside a macro of the program");
			return true;
		}
		// bcc's own expansions: the reader fills the destination; the _p form reads a
		// pointer argument, then user memory through it.
		std::string text = plain ? reader + "(" + args[1] + ", " + args[2] + ", " + args[3] + ")"
					 : "({ u64 _bpflua_addr = 0; int _bpflua_err = " + reader + "(" +
						   args[1] + ", &_bpflua_addr, sizeof(_bpflua_addr)); "
						   "if (!_bpflua_err) _bpflua_err = bpf_probe_read_user(" +
						   args[2] + ", " + args[3] + ", (void *)_bpflua_addr); "
						   "_bpflua_err; })";
		edits.replace(begin, end, text);
		return true;
	}

private:
	bool defines(const std::string &name) const
	{
		for (const clang::NamedDecl *d :
		     ctx.getTranslationUnitDecl()->lookup(&ctx.Idents.get(name)))
			if (const auto *f = llvm::dyn_cast<clang::FunctionDecl>(d))
				if (f->isDefined())
					return true;
		return false;
	}

	clang::ASTContext &ctx;
	SourceEdits &edits;
	const clang::FunctionDecl *fn;
};

// bcc's rule: a static (or inline) function of the program is inlined into each program that
// calls it (bcc marks them always_inline), not called: 6.1's verifier explores a called
// function's loops again at every call with less pruning, and gives up after a million
// instructions on programs that bcc loads (virtiostat's count_len, called three times, with
// nested scatterlist loops). __noinline keeps a function a BPF-to-BPF call. It holds in both
// passes (it is an attribute on the AST, not an edit).
class InlineHelpers : public clang::ASTConsumer {
public:
	void Initialize(clang::ASTContext &context) override { ctx = &context; }

	bool HandleTopLevelDecl(clang::DeclGroupRef group) override
	{
		const clang::SourceManager &sm = ctx->getSourceManager();
		for (clang::Decl *d : group) {
			auto *fn = llvm::dyn_cast<clang::FunctionDecl>(d);
			if (!fn || !fn->doesThisDeclarationHaveABody() ||
			    (fn->getStorageClass() != clang::SC_Static && !fn->isInlineSpecified()) ||
			    fn->hasAttr<clang::NoInlineAttr>() || fn->hasAttr<clang::AlwaysInlineAttr>() ||
			    !sm.isWrittenInMainFile(sm.getFileLoc(fn->getLocation())))
				continue;
			fn->addAttr(clang::AlwaysInlineAttr::CreateImplicit(
				*ctx, clang::SourceRange(), clang::AttributeCommonInfo::AS_GNU,
				clang::AlwaysInlineAttr::GNU_always_inline));
		}
		return true;
	}

private:
	clang::ASTContext *ctx = nullptr;
};

class BccRules : public clang::MultiplexConsumer {
public:
	BccRules(SourceEdits &edits, std::vector<std::unique_ptr<clang::ASTConsumer>> next)
		: MultiplexConsumer(std::move(next)), edits(edits) {}

	// Clang's own warning about implicit declarations gives way to the rules' error.
	void Initialize(clang::ASTContext &ctx) override
	{
		for (unsigned id : {clang::diag::ext_implicit_function_decl,
				    clang::diag::warn_implicit_function_decl})
			ctx.getDiagnostics().setSeverity(id, clang::diag::Severity::Ignored,
							 clang::SourceLocation());
		MultiplexConsumer::Initialize(ctx);
	}

	// The unit's own functions (the PCH's are never walked).
	bool HandleTopLevelDecl(clang::DeclGroupRef group) override
	{
		for (clang::Decl *d : group)
			if (auto *fn = llvm::dyn_cast<clang::FunctionDecl>(d))
				if (fn->doesThisDeclarationHaveABody())
					functions.push_back(fn);
		return MultiplexConsumer::HandleTopLevelDecl(group);
	}

	void HandleTranslationUnit(clang::ASTContext &ctx) override
	{
		const clang::SourceManager &sm = ctx.getSourceManager();
		std::vector<clang::FunctionDecl *> own;
		for (clang::FunctionDecl *fn : functions) {
			if (!sm.isWrittenInMainFile(sm.getFileLoc(fn->getLocation())))
				continue;
			HelperCalls(ctx).TraverseDecl(fn);
			UsdtReaders(ctx, edits, fn).TraverseDecl(fn);
			bcc_probe_args(ctx, edits, fn);
			PaddedLiterals(edits).TraverseDecl(fn);
			own.push_back(fn);
		}
		bcc_kernel_reads(edits, own);
		if (ctx.getDiagnostics().hasErrorOccurred())
			return;
		if (edits.rewriter.getRewriteBufferFor(sm.getMainFileID()))
			return; // the edited text is compiled instead
		MultiplexConsumer::HandleTranslationUnit(ctx);
	}

private:
	SourceEdits &edits;
	std::vector<clang::FunctionDecl *> functions;
};

} // namespace

std::unique_ptr<clang::ASTConsumer>
bpflua_bcc_rules_consumer(SourceEdits &edits, std::unique_ptr<clang::ASTConsumer> codegen)
{
	std::vector<std::unique_ptr<clang::ASTConsumer>> next;
	next.push_back(std::move(codegen));
	return std::make_unique<BccRules>(edits, std::move(next));
}

std::unique_ptr<clang::ASTConsumer> bpflua_bcc_inline_consumer()
{
	return std::make_unique<InlineHelpers>();
}
