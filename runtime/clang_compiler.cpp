// In-process Clang: BPF C in memory -> BPF ELF in memory (or a PCH on disk).
//
// With the AST passes (event_types.cpp, program_sections.cpp) it is built as libbpflua-clang.so
// and dlopened on demand, so that scripts whose object is cached never pay for loading LLVM.

#include "clang_compiler.h"
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

// Code generation, after the passes that look at (and mark up) the same AST.
class EmitObjWithEventTypes : public clang::EmitObjAction {
public:
	EmitObjWithEventTypes(llvm::LLVMContext *context, std::string &metadata)
		: EmitObjAction(context), metadata(metadata) {}

protected:
	std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance &ci,
							       llvm::StringRef file) override
	{
		// The AST passes go before code generation, which frees the AST when it is done
		// with the translation unit (-clear-ast-before-backend).
		std::vector<std::unique_ptr<clang::ASTConsumer>> consumers;
		consumers.push_back(bpflua_program_sections_consumer());
		consumers.push_back(bpflua_event_type_consumer(metadata));
		consumers.push_back(EmitObjAction::CreateASTConsumer(ci, file));
		if (!consumers.back())
			return nullptr;
		return std::make_unique<clang::MultiplexConsumer>(std::move(consumers));
	}

private:
	std::string &metadata;
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

} // namespace

extern "C" __attribute__((visibility("default"))) int
bpflua_clang_run(const bpflua_clang_request *req, bpflua_clang_result *res)
{
	initialize_bpf_target();
	*res = bpflua_clang_result{};

	DiagnosticCollector collector;
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
		res->diagnostics = copy_out(collector.records);
		res->errors = 1;
		return -1;
	}
	// The main file is held in memory unless there is none (a PCH is built from a file on
	// disk, because its users check its inputs).
	if (req->source)
		invocation->getPreprocessorOpts().addRemappedFile(
			req->source_name,
			llvm::MemoryBuffer::getMemBufferCopy(
				llvm::StringRef(req->source, req->source_len), req->source_name)
				.release());
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
	llvm::SmallVector<char, 0> object;
	std::string metadata;
	if (req->pch_path) {
		clang::GeneratePCHAction action;
		ok = compiler.ExecuteAction(action);
	} else {
		compiler.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
		llvm::LLVMContext context;
		EmitObjWithEventTypes action(&context, metadata);
		ok = compiler.ExecuteAction(action);
		compiler.setOutputStream(nullptr);
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
