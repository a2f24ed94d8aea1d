// In-process Clang: BPF C in memory -> BPF ELF in memory (or a PCH on disk).
//
// With the AST passes (event_types.cpp, program_sections.cpp) it is built as libbpflua-clang.so
// and dlopened on demand, so that scripts whose object is cached never pay for loading LLVM.

#include "bcc_rules.h"
#include "clang_compiler.h"
#include "core_globals.h"
#include "event_types.h"
#include "program_sections.h"

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/SourceManager.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Frontend/MultiplexConsumer.h>
#include <clang/Frontend/Utils.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <clang/Rewrite/Core/Rewriter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace {

// Collects diagnostics as plain records; libbpflua formats them against the user's own text,
// because the text Clang sees has been rewritten.
class DiagnosticCollector : public clang::DiagnosticConsumer {
public:
	std::string records;
	int errors = 0;

	void HandleDiagnostic(clang::DiagnosticsEngine::Level level,
			      const clang::Diagnostic &info) override
	{
		DiagnosticConsumer::HandleDiagnostic(level, info);
		if (level < clang::DiagnosticsEngine::Warning)
			return;
		const char *name = "warning";
		if (level >= clang::DiagnosticsEngine::Error) {
			name = "error";
			errors++;
		}
		llvm::SmallString<256> message;
		info.FormatDiagnostic(message);
		std::string file = "";
		unsigned line = 0, col = 0;
		if (info.hasSourceManager() && info.getLocation().isValid()) {
			const clang::SourceManager &sm = info.getSourceManager();
			// A diagnostic inside a macro is reported where the user wrote the macro.
			clang::SourceLocation loc = sm.getFileLoc(info.getLocation());
			clang::PresumedLoc presumed = sm.getPresumedLoc(loc);
			if (presumed.isValid()) {
				file = presumed.getFilename();
				line = presumed.getLine();
				col = presumed.getColumn();
			}
		}
		for (char &c : message)
			if (c == '\n' || c == '\t')
				c = ' ';
		records += std::string(name) + "\t" + file + "\t" + std::to_string(line) + "\t" +
			   std::to_string(col) + "\t" + std::string(message.str()) + "\n";
	}
};

// Code generation, after the passes that look at (and mark up) the same AST. With bcc's
// rules on (the first pass), code generation is wrapped by them and runs only when they
// edited nothing; the caller then compiles the edited text in a second pass.
class EmitObjWithEventTypes : public clang::EmitObjAction {
public:
	EmitObjWithEventTypes(llvm::LLVMContext *context, std::string &metadata,
			      clang::Rewriter *rules)
		: EmitObjAction(context), metadata(metadata), rules(rules) {}

protected:
	std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance &ci,
							       llvm::StringRef file) override
	{
		// The AST passes go before code generation, which frees the AST when it is done
		// with the translation unit (-clear-ast-before-backend).
		std::vector<std::unique_ptr<clang::ASTConsumer>> consumers;
		consumers.push_back(bpflua_program_sections_consumer());
		consumers.push_back(bpflua_event_type_consumer(metadata));
		std::unique_ptr<clang::ASTConsumer> codegen = EmitObjAction::CreateASTConsumer(ci, file);
		if (!codegen)
			return nullptr;
		if (rules) {
			rules->setSourceMgr(ci.getSourceManager(), ci.getLangOpts());
			codegen = bpflua_bcc_rules_consumer(*rules, std::move(codegen));
		}
		consumers.push_back(std::move(codegen));
		return std::make_unique<clang::MultiplexConsumer>(std::move(consumers));
	}

private:
	std::string &metadata;
	clang::Rewriter *rules;
};

char *copy_out(const std::string &s)
{
	char *p = static_cast<char *>(std::malloc(s.size() + 1));
	if (p)
		std::memcpy(p, s.c_str(), s.size() + 1);
	return p;
}

void initialize_bpf_target()
{
	static std::once_flag once;
	std::call_once(once, [] {
		LLVMInitializeBPFTargetInfo();
		LLVMInitializeBPFTarget();
		LLVMInitializeBPFTargetMC();
		LLVMInitializeBPFAsmPrinter();
	});
}

// One run of Clang over source (the request's, or the text bcc's rules edited). With rules
// set, bcc's rules run on the AST and code generation happens only if they edit nothing.
bool run_clang(const bpflua_clang_request *req, llvm::StringRef source, std::string *edited,
	       DiagnosticCollector &collector, llvm::SmallVector<char, 0> &object,
	       std::string &metadata)
{
	clang::Rewriter rewriter;
	clang::Rewriter *rules = edited ? &rewriter : nullptr;
	llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> diag_opts = new clang::DiagnosticOptions();
	llvm::IntrusiveRefCntPtr<clang::DiagnosticsEngine> diags = new clang::DiagnosticsEngine(
		new clang::DiagnosticIDs(), diag_opts, &collector, false);

	// The driver only turns the command line into a cc1 invocation here: no process is run.
	std::vector<const char *> argv = {"clang", "-target", "bpf"};
	for (int i = 0; i < req->nargs; i++)
		argv.push_back(req->args[i]);
	if (req->pch_path) {
		argv.insert(argv.end(), {"-x", "c-header", req->source_name, "-o", req->pch_path});
	} else {
		argv.insert(argv.end(), {"-c", "-x", "c", req->source_name, "-o", "/dev/null"});
	}
	std::unique_ptr<clang::CompilerInvocation> invocation =
		clang::createInvocationFromCommandLine(argv, diags);
	if (!invocation) {
		collector.records += "error\t\t0\t0\tclang could not parse its arguments\n";
		collector.errors++;
		return false;
	}
	// The main file is held in memory unless there is none (a PCH is built from a file on
	// disk, because its users check its inputs).
	if (req->source)
		invocation->getPreprocessorOpts().addRemappedFile(
			req->source_name,
			llvm::MemoryBuffer::getMemBufferCopy(source, req->source_name).release());
	// The tooling entry point above always asks for -fsyntax-only; say what to produce.
	clang::FrontendOptions &frontend = invocation->getFrontendOpts();
	frontend.DisableFree = false;
	if (req->pch_path) {
		frontend.ProgramAction = clang::frontend::GeneratePCH;
		frontend.OutputFile = req->pch_path;
	} else {
		frontend.ProgramAction = clang::frontend::EmitObj;
	}

	clang::CompilerInstance compiler;
	compiler.setInvocation(std::move(invocation));
	compiler.createDiagnostics(&collector, false);
	compiler.setVerboseOutputStream(llvm::nulls()); // no "1 error generated." on stderr

	bool ok;
	if (req->pch_path) {
		clang::GeneratePCHAction action;
		ok = compiler.ExecuteAction(action);
	} else {
		compiler.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
		llvm::LLVMContext context;
		EmitObjWithEventTypes action(&context, metadata, rules);
		ok = compiler.ExecuteAction(action);
		compiler.setOutputStream(nullptr);
		bpflua_forget_core_globals();
		// The edits refer to the compiler's sources: take the text while they live.
		const clang::RewriteBuffer *buffer =
			ok && rules ? rules->getRewriteBufferFor(
					      compiler.getSourceManager().getMainFileID())
				    : nullptr;
		if (buffer)
			edited->assign(buffer->begin(), buffer->end());
	}
	return ok && !collector.errors;
}

} // namespace

extern "C" __attribute__((visibility("default"))) int
bpflua_clang_run(const bpflua_clang_request *req, bpflua_clang_result *res)
{
	initialize_bpf_target();
	*res = bpflua_clang_result{};

	DiagnosticCollector collector;
	llvm::SmallVector<char, 0> object;
	std::string metadata;
	llvm::StringRef source(req->source ? req->source : "", req->source ? req->source_len : 0);
	bool ok;
	if (req->pch_path) {
		ok = run_clang(req, source, nullptr, collector, object, metadata);
	} else {
		// First pass: bcc's rules on the AST, with errors at the user's line:col. When
		// they edit the text, the second pass compiles the edited text; its warnings
		// would repeat the first pass's (with columns moved by the edits), so only its
		// errors are kept.
		std::string text;
		ok = run_clang(req, source, &text, collector, object, metadata);
		if (ok && !text.empty()) {
			if (getenv("BPFLUA_DEBUG"))
				fprintf(stderr, "bpflua: the C after bcc's rules:\n%s\n", text.c_str());
			DiagnosticCollector second;
			object.clear();
			metadata.clear();
			ok = run_clang(req, text, nullptr, second, object, metadata);
			for (size_t at = 0; at < second.records.size();) {
				size_t end = second.records.find('\n', at);
				std::string record = second.records.substr(at, end - at + 1);
				at = end == std::string::npos ? second.records.size() : end + 1;
				if (record.compare(0, 6, "error\t") != 0)
					continue;
				// Lines keep their numbers through the edits; columns may not.
				if (!record.empty() && record.back() == '\n')
					record.pop_back();
				collector.records += record +
						     " (in the C as bcc's rules edited it: its column may "
						     "differ; BPFLUA_DEBUG=1 prints that C)\n";
			}
			collector.errors += second.errors;
		}
	}

	res->errors = collector.errors;
	res->diagnostics = copy_out(collector.records);
	if (!ok || collector.errors)
		return -1;
	if (!req->pch_path) {
		res->object = static_cast<char *>(std::malloc(object.size()));
		if (!res->object)
			return -1;
		std::memcpy(res->object, object.data(), object.size());
		res->object_len = object.size();
		res->metadata = copy_out(metadata);
	}
	return 0;
}
