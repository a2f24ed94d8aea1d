// Debian builds LLVM 14 with Polly registered as a static extension, so clang's CodeGen calls
// getPollyPluginInfo() when it sets up its passes. libbpflua-clang links LLVM statically
// without Polly (BPF programs have no use for its loop optimisations); this says there is
// nothing to register.
#include <llvm/Passes/PassPlugin.h>

llvm::PassPluginLibraryInfo getPollyPluginInfo()
{
	return {LLVM_PLUGIN_API_VERSION, "bpflua-no-polly", "0", [](llvm::PassBuilder &) {}};
}
