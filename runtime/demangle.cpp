/* libbpflua-demangle: C++ and Rust symbol names as people read them, for BPF.sym and the stack
 * tools. Built as its own small module with LLVM's demangler (libLLVMDemangle, static) so that
 * libbpflua stays C and a run that never meets a mangled name never loads it
 * (lua/bpflua/symbols.lua loads it on the first one).
 *
 * LLVM's rather than libstdc++'s __cxa_demangle: it also reads Rust's v0 names (_R...), and
 * it is faster on the same names (scripts/bench/demangle.lua). */
#include <llvm/Demangle/Demangle.h>

#include <cstdlib>
#include <cstring>

#define EXPORT extern "C" __attribute__((visibility("default")))

namespace
{

bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Rust's legacy scheme is Itanium's _ZN...E whose last component is the crate hash,
 * 17h<16 hex digits>. */
bool is_rust_legacy(const char *mangled)
{
	size_t n = strlen(mangled);
	if (n < 3 + 19 + 1 || strncmp(mangled, "_ZN", 3) != 0 || mangled[n - 1] != 'E')
		return false;
	const char *hash = mangled + n - 1 - 19;
	if (strncmp(hash, "17h", 3) != 0)
		return false;
	for (int i = 3; i < 19; i++)
		if (!is_hex(hash[i]))
			return false;
	return true;
}

/* Rust's escapes for what Itanium names cannot hold ($LT$ for <, $u7b$ for {, .. for ::). */
struct escape {
	const char *code;
	char c;
};
const escape ESCAPES[] = {{"$SP$", '@'}, {"$BP$", '*'}, {"$RF$", '&'}, {"$LT$", '<'},
			  {"$GT$", '>'}, {"$LP$", '('}, {"$RP$", ')'}, {"$C$", ','}};

int hex_value(char c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Rewrites s in place (the result is never longer): without the trailing ::h<hash>, with
 * the escapes decoded, as rustc-demangle, bcc and bpftrace's users read Rust names. */
void tidy_rust_legacy(char *s)
{
	size_t n = strlen(s);
	if (n > 19 && strncmp(s + n - 19, "::h", 3) == 0)
		s[n - 19] = '\0';
	char *out = s;
	for (const char *in = s; *in;) {
		if (in[0] == '.' && in[1] == '.') {
			*out++ = ':';
			*out++ = ':';
			in += 2;
			continue;
		}
		/* a component that begins with $ gets a leading _ (_$LT$...) */
		if (in[0] == '_' && in[1] == '$' && (in == s || in[-1] == ':')) {
			in++;
			continue;
		}
		if (in[0] == '$') {
			bool done = false;
			for (const escape &e : ESCAPES) {
				size_t len = strlen(e.code);
				if (strncmp(in, e.code, len) == 0) {
					*out++ = e.c;
					in += len;
					done = true;
					break;
				}
			}
			if (!done && in[1] == 'u' && is_hex(in[2]) && is_hex(in[3]) &&
			    in[4] == '$') {
				*out++ = (char)(hex_value(in[2]) * 16 + hex_value(in[3]));
				in += 5;
				done = true;
			}
			if (done)
				continue;
		}
		*out++ = *in++;
	}
	*out = '\0';
}

} // namespace

/* The readable form of a mangled C++ (Itanium) or Rust (legacy or v0) name, malloc'd (free it
 * with bpflua_demangle_free); NULL when name is not a mangled name this can read. */
EXPORT char *bpflua_demangle(const char *name)
{
	int status = 0;
	char *text = nullptr;
	if (strncmp(name, "_Z", 2) == 0) {
		text = llvm::itaniumDemangle(name, nullptr, nullptr, &status);
		if (text && status == llvm::demangle_success && is_rust_legacy(name))
			tidy_rust_legacy(text);
	} else if (strncmp(name, "_R", 2) == 0) {
		text = llvm::rustDemangle(name, nullptr, nullptr, &status);
	}
	if (status != llvm::demangle_success) {
		free(text);
		return nullptr;
	}
	return text;
}

EXPORT void bpflua_demangle_free(char *text)
{
	free(text);
}
