// Clang as a library: BPF C in memory -> BPF ELF in memory (or a PCH on disk).
//
// With the AST passes (event_types.cpp, program_sections.cpp) it is built as libbpflua-clang.so
// and dlopened only in the compiler's child process (compiler_process.c), one fresh process per
// compile: LLVM keeps global state between compiles and can crash, and neither may reach the
// host.

#include "bcc_rules.h"
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
#include <clang/Lex/LiteralSupport.h>
#include <clang/Lex/MacroArgs.h>
#include <clang/Lex/PPCallbacks.h>
#include <clang/Lex/Preprocessor.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <clang/Rewrite/Core/Rewriter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/ErrorHandling.h>
#include <llvm/ADT/StringSet.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/Path.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace {

// Collects diagnostics as plain records; libbpflua formats them against the user's own text,
// because the text Clang sees has been rewritten.
class DiagnosticCollector : public clang::DiagnosticConsumer {
public:
	struct Record {
		const char *level;
		std::string file, message;
		unsigned line = 0, col = 0;
		int main_offset = -1; // in the main file, where there is a position there
	};
	std::vector<Record> records;
	int errors = 0;

	void HandleDiagnostic(clang::DiagnosticsEngine::Level level,
			      const clang::Diagnostic &info) override
	{
		DiagnosticConsumer::HandleDiagnostic(level, info);
		if (level < clang::DiagnosticsEngine::Warning)
			return;
		Record r;
		r.level = "warning";
		if (level >= clang::DiagnosticsEngine::Error) {
			r.level = "error";
			errors++;
		}
		llvm::SmallString<256> message;
		info.FormatDiagnostic(message);
		if (info.hasSourceManager() && info.getLocation().isValid()) {
			const clang::SourceManager &sm = info.getSourceManager();
			// A diagnostic inside a macro is reported where the user wrote the macro.
			clang::SourceLocation loc = sm.getFileLoc(info.getLocation());
			std::pair<clang::FileID, unsigned> at = sm.getDecomposedLoc(loc);
			if (at.first == sm.getMainFileID())
				r.main_offset = (int)at.second;
			clang::PresumedLoc presumed = sm.getPresumedLoc(loc);
			if (presumed.isValid()) {
				r.file = presumed.getFilename();
				r.line = presumed.getLine();
				r.col = presumed.getColumn();
			}
		}
		for (char &c : message)
			if (c == '\n' || c == '\t')
				c = ' ';
		r.message = std::string(message.str());
		// The BPF back end says "stack limit exceeded" once per access to the frame.
		for (const Record &seen : records)
			if (!strcmp(seen.level, r.level) && seen.main_offset == r.main_offset &&
			    seen.line == r.line && seen.col == r.col && seen.file == r.file &&
			    seen.message == r.message)
				return;
		records.push_back(std::move(r));
	}

	void add_error(const char *message)
	{
		records.push_back(Record{"error", "", message});
		errors++;
	}
};

// The line and file Clang presumes (after #line) at each line of the main file.
class PresumedLines {
public:
	void read(const clang::SourceManager &sm)
	{
		clang::FileID main = sm.getMainFileID();
		llvm::StringRef text = sm.getBufferData(main);
		clang::SourceLocation start = sm.getLocForStartOfFile(main);
		for (size_t at = 0;;) {
			clang::PresumedLoc p = sm.getPresumedLoc(start.getLocWithOffset((int)at));
			if (p.isInvalid())
				break;
			if (files.empty() || files.back() != p.getFilename())
				files.push_back(p.getFilename());
			lines.push_back({(unsigned)at, files.size() - 1, p.getLine()});
			size_t end = text.find('\n', at);
			if (end == llvm::StringRef::npos)
				break;
			at = end + 1;
		}
	}

	// Sets r's file, line and column to those of the main file's offset.
	void place(unsigned offset, DiagnosticCollector::Record &r) const
	{
		auto after = std::upper_bound(lines.begin(), lines.end(), offset,
					      [](unsigned o, const Line &l) { return o < l.offset; });
		if (after == lines.begin())
			return;
		const Line &line = *(after - 1);
		r.file = files[line.file];
		r.line = line.line;
		r.col = offset - line.offset + 1;
	}

private:
	struct Line {
		unsigned offset;
		size_t file;
		unsigned line;
	};
	std::vector<Line> lines;
	std::vector<std::string> files;
};

// The main file as bcc's rules edited it, and how to find the original's positions in it.
struct EditedText {
	std::string text;
	EditMap map;
	PresumedLines original_lines;
};

// The files the preprocessor read for the main file, so that a cached object can be checked
// against the headers it came from (-I directories included). The PCH's own inputs come
// "from a module" and are left out: the PCH's key covers them.
class IncludedFiles : public clang::DependencyCollector {
public:
	explicit IncludedFiles(std::string main) : main(std::move(main)) {}
	bool needSystemDependencies() override { return true; }
	bool sawDependency(llvm::StringRef file, bool from_module, bool is_system,
			   bool is_module_file, bool is_missing) override
	{
		return !from_module && !is_module_file && !is_missing && file != main &&
		       file != "<built-in>";
	}

private:
	std::string main;
};

// Opening a FIFO or a device blocks or never ends: an #include names only regular files.
class RegularFilesOnly : public llvm::vfs::ProxyFileSystem {
public:
	using ProxyFileSystem::ProxyFileSystem;
	llvm::ErrorOr<std::unique_ptr<llvm::vfs::File>> openFileForRead(const llvm::Twine &path) override
	{
		llvm::ErrorOr<llvm::vfs::Status> st = getUnderlyingFS().status(path);
		if (st && st->getType() != llvm::sys::fs::file_type::regular_file &&
		    st->getType() != llvm::sys::fs::file_type::directory_file)
			return std::error_code(EINVAL, not_regular_category());
		return ProxyFileSystem::openFileForRead(path);
	}

private:
	struct NotRegular : std::error_category {
		const char *name() const noexcept override { return "bpflua"; }
		std::string message(int) const override
		{
			return "not a regular file (bpflua reads no FIFOs or devices)";
		}
	};
	static const std::error_category &not_regular_category()
	{
		static NotRegular category;
		return category;
	}
};

// A tracepoint the program names but the kernel lacks is an error only where the
// preprocessor keeps the probe: a TRACEPOINT_PROBE under #if 0 or an #ifdef of an absent
// option is never compiled, so it is never checked. libbpflua marks each such tracepoint in
// the unit with its message and a macro of the probe's own name:
//   #define __bpflua_absent_tracepoint__CAT__EV "tracepoint CAT:EV does not exist (...)"
//   #define tracepoint__CAT__EV tracepoint__CAT__EV
// and the error is reported where the user names it: TRACEPOINT_PROBE's category, or a
// function of that name written out. It is fatal: what Clang would say next about the
// tracepoint's missing argument struct only repeats it.
class AbsentTracepoints : public clang::PPCallbacks {
public:
	explicit AbsentTracepoints(clang::Preprocessor &pp) : pp(pp) {}

	void MacroExpands(const clang::Token &name, const clang::MacroDefinition &, clang::SourceRange,
			  const clang::MacroArgs *args) override
	{
		llvm::StringRef macro = name.getIdentifierInfo()->getName();
		if (macro == "TRACEPOINT_PROBE" && args && args->getNumMacroArguments() == 2) {
			const clang::Token *category = args->getUnexpArgument(0);
			const clang::Token *event = args->getUnexpArgument(1);
			if (category->is(clang::tok::identifier) && event->is(clang::tok::identifier))
				check(category->getIdentifierInfo()->getName().str() + "__" +
					      event->getIdentifierInfo()->getName().str(),
				      category->getLocation());
		} else if (macro.startswith("tracepoint__") && name.getLocation().isFileID()) {
			// Written out by the user, not made by TRACEPOINT_PROBE's expansion.
			check(macro.substr(strlen("tracepoint__")).str(), name.getLocation());
		}
	}

private:
	void check(const std::string &tracepoint, clang::SourceLocation at)
	{
		const clang::MacroInfo *marker =
			pp.getMacroInfo(pp.getIdentifierInfo("__bpflua_absent_tracepoint__" + tracepoint));
		if (!marker || marker->getNumTokens() != 1 ||
		    !marker->getReplacementToken(0).is(clang::tok::string_literal))
			return;
		clang::StringLiteralParser message(marker->tokens(), pp);
		if (message.hadError)
			return;
		clang::DiagnosticsEngine &diags = pp.getDiagnostics();
		diags.Report(at, diags.getCustomDiagID(clang::DiagnosticsEngine::Fatal, "%0"))
			<< message.GetString();
	}

	clang::Preprocessor &pp;
};

// Code generation, after the passes that look at (and mark up) the same AST. With bcc's
// rules on (the first pass), code generation is wrapped by them and runs only when they
// edited nothing; the caller then compiles the edited text in a second pass.
class EmitObjWithEventTypes : public clang::EmitObjAction {
public:
	EmitObjWithEventTypes(llvm::LLVMContext *context, std::string &metadata, SourceEdits *rules)
		: EmitObjAction(context), metadata(metadata), rules(rules) {}

protected:
	std::unique_ptr<clang::ASTConsumer> CreateASTConsumer(clang::CompilerInstance &ci,
							       llvm::StringRef file) override
	{
		ci.getPreprocessor().addPPCallbacks(
			std::make_unique<AbsentTracepoints>(ci.getPreprocessor()));
		// The AST passes go before code generation, which frees the AST when it is done
		// with the translation unit (-clear-ast-before-backend).
		std::vector<std::unique_ptr<clang::ASTConsumer>> consumers;
		consumers.push_back(bpflua_bcc_inline_consumer());
		consumers.push_back(bpflua_program_sections_consumer());
		consumers.push_back(bpflua_event_type_consumer(metadata));
		std::unique_ptr<clang::ASTConsumer> codegen = EmitObjAction::CreateASTConsumer(ci, file);
		if (!codegen)
			return nullptr;
		if (rules) {
			rules->rewriter.setSourceMgr(ci.getSourceManager(), ci.getLangOpts());
			codegen = bpflua_bcc_rules_consumer(*rules, std::move(codegen));
		}
		consumers.push_back(std::move(codegen));
		return std::make_unique<clang::MultiplexConsumer>(std::move(consumers));
	}

private:
	std::string &metadata;
	SourceEdits *rules;
};

// Notes whether anything but the prelude names vmlinux.h. A compile against a header trimmed
// to the program's kernel types finds it on a search path of its own, which a compile against
// the prelude PCH does not have: an #include <vmlinux.h> of the user's would succeed there and
// fail here, so such a program is compiled against the full prelude instead.
class VmlinuxWatch : public clang::PPCallbacks {
public:
	VmlinuxWatch(const clang::SourceManager &sm, bool &named) : sm(sm), named(named) {}
	void InclusionDirective(clang::SourceLocation hash, const clang::Token &, llvm::StringRef name,
				bool, clang::CharSourceRange, const clang::FileEntry *, llvm::StringRef,
				llvm::StringRef, const clang::Module *,
				clang::SrcMgr::CharacteristicKind) override
	{
		if (llvm::sys::path::filename(name) == "vmlinux.h" &&
		    !sm.getFilename(sm.getFileLoc(hash)).endswith("bpflua/prelude.h"))
			named = true;
	}
	void HasInclude(clang::SourceLocation, llvm::StringRef name, bool,
			llvm::Optional<clang::FileEntryRef>, clang::SrcMgr::CharacteristicKind) override
	{
		if (llvm::sys::path::filename(name) == "vmlinux.h")
			named = true;
	}

private:
	const clang::SourceManager &sm;
	bool &named;
};

// Preprocesses the unit and lists each identifier the parser would see, once: the names a
// trimmed vmlinux.h must declare. Macro expansion has run, so names that macros build with ##
// or hide in their bodies are there too.
class ListIdentifiers : public clang::PreprocessorFrontendAction {
public:
	ListIdentifiers(std::string &out, bool &vmlinux_named) : out(out), vmlinux_named(vmlinux_named) {}

protected:
	void ExecuteAction() override
	{
		clang::Preprocessor &pp = getCompilerInstance().getPreprocessor();
		pp.addPPCallbacks(std::make_unique<VmlinuxWatch>(pp.getSourceManager(), vmlinux_named));
		pp.IgnorePragmas();
		pp.EnterMainSourceFile();
		llvm::StringSet<> seen;
		clang::Token tok;
		do {
			pp.Lex(tok);
			if (tok.is(clang::tok::identifier) && seen.insert(tok.getIdentifierInfo()->getName()).second) {
				out += tok.getIdentifierInfo()->getName();
				out += '\n';
			}
		} while (tok.isNot(clang::tok::eof));
	}

private:
	std::string &out;
	bool &vmlinux_named;
};

char *copy_out(const std::string &s)
{
	char *p = static_cast<char *>(std::malloc(s.size() + 1));
	if (p)
		std::memcpy(p, s.c_str(), s.size() + 1);
	return p;
}

// A fatal LLVM error would otherwise call exit(), running the host's exit handlers in the
// compiler's process; say why on stderr and end the process at once instead.
void fatal_error(void *, const char *reason, bool)
{
	std::string line = std::string("LLVM ERROR: ") + reason + "\n";
	if (write(STDERR_FILENO, line.data(), line.size()) < 0) {
	}
	_exit(BPFLUA_CLANG_FATAL_STATUS);
}

void initialize_bpf_target()
{
	static std::once_flag once;
	std::call_once(once, [] {
		llvm::install_fatal_error_handler(fatal_error);
		llvm::install_bad_alloc_error_handler(fatal_error);
		LLVMInitializeBPFTargetInfo();
		LLVMInitializeBPFTarget();
		LLVMInitializeBPFTargetMC();
		LLVMInitializeBPFAsmPrinter();
	});
}

template <typename T> T *malloc_array(size_t n)
{
	return static_cast<T *>(std::calloc(n ? n : 1, sizeof(T)));
}

// Hands the collected diagnostics and dependencies to the C side.
void copy_reports(const DiagnosticCollector &collector, const IncludedFiles *included,
		  bpflua_clang_result *res)
{
	res->errors = collector.errors;
	res->diagnostics = malloc_array<bpflua_clang_diagnostic>(collector.records.size());
	if (res->diagnostics) {
		for (const DiagnosticCollector::Record &r : collector.records) {
			bpflua_clang_diagnostic &d = res->diagnostics[res->ndiagnostics++];
			d.level = r.level;
			d.file = copy_out(r.file);
			d.line = (int)r.line;
			d.col = (int)r.col;
			d.message = copy_out(r.message);
		}
	}
	if (!included)
		return;
	llvm::ArrayRef<std::string> deps = included->getDependencies();
	res->dependencies = malloc_array<char *>(deps.size());
	if (res->dependencies)
		for (const std::string &dep : deps)
			res->dependencies[res->ndependencies++] = copy_out(dep);
}

// One run of Clang over source (the request's, or the text bcc's rules edited). With edited
// set, bcc's rules run on the AST and code generation happens only if they edit nothing;
// their edited text is left in *edited.
bool run_clang(const bpflua_clang_request *req, llvm::StringRef source, EditedText *edited,
	       DiagnosticCollector &collector, std::shared_ptr<IncludedFiles> &included,
	       llvm::SmallVector<char, 0> &object, std::string &metadata, bool *vmlinux_named = nullptr)
{
	clang::Rewriter rewriter;
	SourceEdits edits(rewriter);
	SourceEdits *rules = edited ? &edits : nullptr;
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
		collector.add_error("clang could not parse its arguments");
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
	// -disable-free, which the driver passes, also makes code generation bury its target
	// machine (~180 KB) on purpose: a compiler that stays loaded must free it.
	invocation->getCodeGenOpts().DisableFree = false;
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
	compiler.createFileManager(
		llvm::makeIntrusiveRefCnt<RegularFilesOnly>(llvm::vfs::getRealFileSystem()));
	if (!req->pch_path && !req->list_identifiers) {
		included = std::make_shared<IncludedFiles>(req->source_name);
		compiler.addDependencyCollector(included);
	}

	bool ok;
	if (req->pch_path) {
		clang::GeneratePCHAction action;
		ok = compiler.ExecuteAction(action);
	} else if (req->list_identifiers) {
		ListIdentifiers action(metadata, *vmlinux_named);
		ok = compiler.ExecuteAction(action);
	} else {
		compiler.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
		llvm::LLVMContext context;
		EmitObjWithEventTypes action(&context, metadata, rules);
		ok = compiler.ExecuteAction(action);
		compiler.setOutputStream(nullptr);
		// The edits refer to the compiler's sources: take the text while they live.
		const clang::RewriteBuffer *buffer =
			ok && rules ? rewriter.getRewriteBufferFor(
					      compiler.getSourceManager().getMainFileID())
				    : nullptr;
		if (buffer) {
			edited->text.assign(buffer->begin(), buffer->end());
			edited->map = edits.map();
			edited->original_lines.read(compiler.getSourceManager());
		}
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
	std::shared_ptr<IncludedFiles> included;
	llvm::SmallVector<char, 0> object;
	std::string metadata;
	llvm::StringRef source(req->source ? req->source : "", req->source ? req->source_len : 0);
	bool ok;
	bool vmlinux_named = false;
	if (req->pch_path) {
		ok = run_clang(req, source, nullptr, collector, included, object, metadata);
	} else if (req->list_identifiers) {
		ok = run_clang(req, source, nullptr, collector, included, object, metadata,
			       &vmlinux_named);
		res->vmlinux_h_named = vmlinux_named;
		res->metadata = copy_out(metadata);
	} else {
		// First pass: bcc's rules on the AST, with errors at the user's line:col. When
		// they edit the text, the second pass compiles the edited text; its warnings
		// would repeat the first pass's, so only its errors are kept, each taken back
		// to where the user wrote what it is about.
		EditedText edited;
		ok = run_clang(req, source, &edited, collector, included, object, metadata);
		if (ok && !edited.text.empty()) {
			if (getenv("BPFLUA_DEBUG"))
				fprintf(stderr, "bpflua: the C after bcc's rules:\n%s\n",
					edited.text.c_str());
			DiagnosticCollector second;
			object.clear();
			metadata.clear();
			std::shared_ptr<IncludedFiles> same_includes;
			ok = run_clang(req, edited.text, nullptr, second, same_includes, object, metadata);
			for (DiagnosticCollector::Record &r : second.records) {
				if (strcmp(r.level, "error") != 0)
					continue;
				if (r.main_offset >= 0) {
					bool written = false;
					unsigned original = edited.map.original((unsigned)r.main_offset, &written);
					edited.original_lines.place(original, r);
					if (written)
						r.message += " (in the C that bcc's rules wrote here; "
							     "BPFLUA_DEBUG=1 prints it)";
				}
				collector.records.push_back(std::move(r));
			}
			collector.errors += second.errors;
		}
	}

	copy_reports(collector, included.get(), res);
	if (!ok || collector.errors)
		return -1;
	if (!req->pch_path && !req->list_identifiers) {
		res->object = static_cast<char *>(std::malloc(object.size()));
		if (!res->object)
			return -1;
		std::memcpy(res->object, object.data(), object.size());
		res->object_len = object.size();
		res->metadata = copy_out(metadata);
	}
	return 0;
}
