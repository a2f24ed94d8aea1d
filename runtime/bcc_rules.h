// bcc's frontend rules, applied on Clang's AST of the program (runtime/bcc_rules.cpp):
// probe arguments become register reads (probe_args.cpp), reads through pointers into
// kernel memory become bpf_probe_read_kernel (kernel_reads.cpp), and calls that bcc forbids
// are errors. The rules do not change the AST: they record edits of the source text in a
// clang::Rewriter, and the edited text is compiled again (as bcc does: a rewrite pass, then
// a code generation pass). The first pass's errors are at the user's own line:col; the
// second pass's are taken back there through an EditMap. Edits never add or remove a line,
// so the line numbers of the second pass's debug info (the verifier's "; @ <text>:N") are
// the user's too.
#ifndef BPFLUA_BCC_RULES_H
#define BPFLUA_BCC_RULES_H

#include <clang/AST/ASTConsumer.h>
#include <clang/AST/ASTContext.h>
#include <clang/AST/Decl.h>
#include <clang/Rewrite/Core/Rewriter.h>

#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

// Where each offset of the edited main file came from in the original: the text the rules
// kept maps to itself, the text they wrote to the place they wrote it (the start of the text
// it replaced, or the point it was inserted at).
class EditMap {
public:
	// The original offset of the edited offset; *written tells whether the rules wrote the
	// character there.
	unsigned original(unsigned edited, bool *written) const;

	// Stretches of original text kept in one piece, in order.
	struct Run {
		unsigned edited, original, length;
	};
	std::vector<Run> runs;
};

// Edits of the main file. Expressions written inside a macro argument are edited where the
// user spelled them (every expansion of the argument then reads the edited text); other
// macro text is never edited. Every edit goes through insert or replace, which keep the
// count of lines and remember where the edits are (map()).
class SourceEdits {
public:
	explicit SourceEdits(clang::Rewriter &rewriter) : rewriter(rewriter) {}

	// The file range [begin, end) of the tokens of r, or false when r cannot be edited.
	bool file_range(clang::SourceRange r, clang::SourceLocation &begin,
			clang::SourceLocation &end) const;
	// The source text of r as the user wrote it.
	std::string text(clang::SourceRange r) const;
	// Wraps the expression spelled at r in prefix...suffix; nested wraps nest when made
	// outermost first. False when r cannot be edited or was wrapped already.
	bool wrap(clang::SourceRange r, const std::string &prefix, const std::string &suffix);
	// Inserts text (made one line) at loc: after what was inserted there before, or before
	// it (after = false).
	void insert(clang::SourceLocation loc, const std::string &text, bool after);
	// Replaces the file range [begin, end) with text. text keeps its line breaks when it has
	// as many as the range; otherwise it is made one line and the range's breaks follow it.
	void replace(clang::SourceLocation begin, clang::SourceLocation end, const std::string &text);
	// Where the edited main file's text came from; while the compile's sources live.
	EditMap map() const;
	clang::Rewriter &rewriter;

private:
	std::set<std::pair<unsigned, unsigned>> wrapped;
	std::set<unsigned> edit_points;                          // offsets where edits begin or end
	std::vector<std::pair<unsigned, unsigned>> replaced;     // [begin, end) offsets
};

// Reports an error at loc through Clang's diagnostics (so that it carries line:col).
void bcc_rules_error(clang::ASTContext &ctx, clang::SourceLocation loc, const std::string &message);

// A probe whose arguments come from registers: non-static, first parameter struct pt_regs *.
bool bcc_probe_takes_registers(const clang::FunctionDecl *fn);
// Declares a probe's arguments after ctx as locals read from ctx's registers.
void bcc_probe_args(clang::ASTContext &ctx, SourceEdits &edits, clang::FunctionDecl *fn);
// Turns reads through pointers into kernel memory in the functions' bodies into
// bpf_probe_read_kernel (the functions are analysed together: pointers pass through calls).
void bcc_kernel_reads(SourceEdits &edits, const std::vector<clang::FunctionDecl *> &functions);

// Wraps code generation: at the end of the unit the rules run first, and code generation
// only sees the end of the unit when they edited nothing (otherwise the edited text is
// compiled instead). edits must outlive the consumer.
std::unique_ptr<clang::ASTConsumer>
bpflua_bcc_rules_consumer(SourceEdits &edits, std::unique_ptr<clang::ASTConsumer> codegen);

// bcc's always_inline on the program's static and inline functions (those without
// __noinline); in every pass, before code generation.
std::unique_ptr<clang::ASTConsumer> bpflua_bcc_inline_consumer();

#endif
