/* bpflua: the host executable. Runs a Lua script (or -e code, or stdin) in LuaJIT with the
 * bpflua modules at hand, or the interactive REPL (bpflua/repl.lua), as lua.c does, and
 * handles Ctrl-C so that a script stops promptly and everything it attached is detached
 * before exit. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "lineedit.h"

#include <dlfcn.h>
#include <lauxlib.h>
#include <lua.h>
#include <luajit.h>
#include <lualib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_INTERRUPTED 130

static const char *progname = "bpflua";
static lua_State *global_L;
/* Set for the REPL (and -i): Ctrl-C interrupts the code that runs and returns to the prompt. */
static volatile sig_atomic_t interactive;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: %s [options] [script [args...]]\n"
		"  script      run a Lua script; arg holds its arguments, as with lua\n"
		"  -e code     run a string of Lua, with the REPL's globals (BPF, ffi, fields...)\n"
		"  -i          enter the interactive REPL after running the script or -e code\n"
		"  -           run standard input\n"
		"  -v          print the versions of bpflua, LuaJIT, libbpf and Clang\n"
		"  --prepare   build the compile cache for the running kernel (vmlinux.h, the\n"
		"              precompiled prelude) and exit: for install and boot scripts\n"
		"  --cache-stats  print what the compile cache holds and its bound, and exit\n"
		"  --cache-clear  empty the compile cache (objects, preludes) and exit\n"
		"  -h          print this help\n"
		"With no script, bpflua starts the interactive REPL on a terminal (type help()).\n"
		"Scripts load the API with: local BPF = require(\"bpflua\")\n",
		progname);
}

static void print_versions(void)
{
	printf("bpflua %s\n%s\nlibbpf %s\nClang %s\n", bpflua_version(), LUAJIT_VERSION,
	       bpflua_libbpf_version(), bpflua_clang_version());
}

/* --prepare: the first script after install or a kernel change then finds its compile cache
 * ready. */
static int prepare(void)
{
	char *error = NULL;
	const char *dir = NULL;
	if (bpflua_prepare(&dir, &error) < 0) {
		fprintf(stderr, "%s: --prepare: %s\n", progname, error ? error : "failed");
		bpflua_free(error);
		return 1;
	}
	printf("bpflua: the compile cache in %s is ready for this kernel\n", dir);
	return 0;
}

static double mib(unsigned long long bytes)
{
	return (double)bytes / (1 << 20);
}

/* --cache-stats: as ccache -s. */
static int cache_stats(void)
{
	struct bpflua_cache_stats st;
	char *error = NULL;
	if (bpflua_cache_stats(&st, &error) < 0) {
		fprintf(stderr, "%s: --cache-stats: %s\n", progname, error ? error : "failed");
		bpflua_free(error);
		return 1;
	}
	printf("cache directory  %s\n", st.dir);
	printf("size             %.1f MiB (%llu bytes)", mib(st.bytes), st.bytes);
	if (st.max)
		printf(" of %.1f MiB (%llu bytes; %.0f%%; BPFLUA_CACHE_MAX)\n", mib(st.max),
		       st.max, 100.0 * (double)st.bytes / (double)st.max);
	else
		printf(", unbounded (BPFLUA_CACHE_MAX=0)\n");
	printf("objects          %lu, %.1f MiB\n", st.objects, mib(st.object_bytes));
	printf("preludes (PCH)   %lu, %.1f MiB\n", st.preludes, mib(st.prelude_bytes));
	printf("kernels          %lu, %.1f MiB of vmlinux.h\n", st.kernels, mib(st.kernel_bytes));
	if (st.objects) {
		char oldest[32], newest[32];
		time_t o = (time_t)st.oldest, n = (time_t)st.newest;
		strftime(oldest, sizeof(oldest), "%Y-%m-%d %H:%M", localtime(&o));
		strftime(newest, sizeof(newest), "%Y-%m-%d %H:%M", localtime(&n));
		printf("objects used     %s to %s\n", oldest, newest);
	}
	return 0;
}

/* --cache-clear: as ccache -C. */
static int cache_clear(void)
{
	char *error = NULL;
	const char *dir = NULL;
	if (bpflua_cache_clear(&dir, &error) < 0) {
		fprintf(stderr, "%s: --cache-clear: %s\n", progname, error ? error : "failed");
		bpflua_free(error);
		return 1;
	}
	printf("bpflua: cleared the compile cache in %s\n", dir);
	return 0;
}

/* ---- The REPL's line editor -------------------------------------------------------------- */

/* lineedit_at_prompt of the line editor's module, once the REPL loaded it. */
static int (*volatile lineedit_at_prompt_fn)(void);

static int at_prompt(void)
{
	int (*fn)(void) = lineedit_at_prompt_fn;
	return fn ? fn() : 0;
}

/* package.preload's loader of bpflua.lineedit: libbpflua-lineedit.so, beside libbpflua. */
static int load_lineedit(lua_State *L)
{
	Dl_info info;
	if (!dladdr((void *)bpflua_version, &info) || !info.dli_fname)
		return luaL_error(L, "cannot load the line editor: libbpflua's directory is unknown");
	const char *slash = strrchr(info.dli_fname, '/');
	lua_pushlstring(L, info.dli_fname, slash ? (size_t)(slash - info.dli_fname + 1) : 0);
	lua_pushliteral(L, "libbpflua-lineedit.so");
	lua_concat(L, 2);
	void *module = dlopen(lua_tostring(L, -1), RTLD_NOW | RTLD_LOCAL);
	if (!module)
		return luaL_error(L, "cannot load the line editor: %s", dlerror());
	lua_CFunction open = (lua_CFunction)dlsym(module, "luaopen_bpflua_lineedit");
	int (*at_prompt_fn)(void) = (int (*)(void))dlsym(module, "lineedit_at_prompt");
	if (!open || !at_prompt_fn)
		return luaL_error(L, "cannot load the line editor: %s", dlerror());
	lineedit_at_prompt_fn = at_prompt_fn;
	return open(L);
}

/* ---- Ctrl-C ------------------------------------------------------------------------------ */

/* The registry's names that bpflua/errors.lua shares with the host: the kind of each error
 * message bpflua raised ("sentence", "diagnostic", "interrupt"), and the count of Ctrl-Cs that
 * became errors. */
#define REPORTED_ERRORS "bpflua.reported_errors"
#define INTERRUPT_COUNT "bpflua.interrupts"

/* Raises "interrupted" at the running function's line, counted and marked as errors.lua's
 * interrupted() does. */
static int raise_interrupt(lua_State *L)
{
	lua_getfield(L, LUA_REGISTRYINDEX, INTERRUPT_COUNT);
	lua_pushinteger(L, lua_tointeger(L, -1) + 1);
	lua_setfield(L, LUA_REGISTRYINDEX, INTERRUPT_COUNT);
	lua_pop(L, 1);
	luaL_where(L, 1);
	lua_pushliteral(L, "interrupted");
	lua_concat(L, 2);
	lua_getfield(L, LUA_REGISTRYINDEX, REPORTED_ERRORS);
	if (lua_istable(L, -1)) {
		lua_pushvalue(L, -2);
		lua_pushliteral(L, "interrupt");
		lua_rawset(L, -3);
	}
	lua_pop(L, 1);
	return lua_error(L);
}

/* A hook set from the signal handler raises the error at the next Lua instruction it can;
 * blocking waits in libbpflua see the flag and return at once, and their callers raise it.
 * Whichever comes first clears the flag: the interrupt is delivered, and a script may catch
 * it and go on. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	if (!bpflua_interrupted())
		return; /* a blocking wait delivered it already */
	bpflua_set_interrupted(0);
	alarm(0); /* Lua has control again: the script may take its time to finish (a report) */
	raise_interrupt(L);
}

/* Code that the JIT compiled into a loop never reaches a hook. If the hook has not run
 * within the grace period (or Ctrl-C comes again), the process ends at once: every BPF
 * program, map and link it holds is owned by a file descriptor, so the kernel detaches and
 * frees them as the process exits. In the REPL the session is worth more than a prompt
 * exit: only the second Ctrl-C ends it, and the grace period only says so. */
#define INTERRUPT_GRACE_SECONDS 1

static void exit_now(int sig)
{
	(void)sig;
	static const char msg[] = "\nbpflua: interrupted\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored; /* nothing to do about a failed write on the way out */
	_exit(EXIT_INTERRUPTED);
}

/* The REPL's grace period ends with a hint rather than an exit; by then the input may have
 * stopped and the prompt be back, and the hint is not needed. */
static void on_sigalrm(int sig)
{
	if (!bpflua_interrupted())
		return; /* delivered in time */
	if (!interactive)
		exit_now(sig);
	if (at_prompt())
		return;
	static const char msg[] = "\nbpflua: still running: code that LuaJIT compiled does not see "
				  "Ctrl-C; press it again to end bpflua\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)ignored; /* a hint that cannot be written is no loss */
}

static void on_sigint(int sig)
{
	if (at_prompt()) {
		/* readline returns, and the REPL drops the line that was being typed. */
		bpflua_set_interrupted(1);
		return;
	}
	if (bpflua_interrupted())
		exit_now(sig);
	bpflua_set_interrupted(1);
	if (global_L)
		lua_sethook(global_L, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
	alarm(INTERRUPT_GRACE_SECONDS);
}

static void install_signal_handlers(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocking wait must return EINTR and notice the flag. */
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_sigalrm;
	sigaction(SIGALRM, &sa, NULL);
}

/* ---- Running Lua ------------------------------------------------------------------------- */

/* How the error that ended a chunk is printed: bpflua's own errors are one sentence (or a
 * compiler's diagnostic) and need no Lua traceback; the user's own errors keep theirs. */
enum error_kind { ERROR_LUA, ERROR_SENTENCE, ERROR_DIAGNOSTIC, ERROR_INTERRUPT };
static enum error_kind last_error_kind;

/* The kind that bpflua/errors.lua noted for the error message at index idx. */
static enum error_kind error_kind_of(lua_State *L, int idx)
{
	enum error_kind kind = ERROR_LUA;
	if (lua_type(L, idx) != LUA_TSTRING)
		return kind;
	lua_getfield(L, LUA_REGISTRYINDEX, REPORTED_ERRORS);
	if (lua_istable(L, -1)) {
		lua_pushvalue(L, idx);
		lua_rawget(L, -2);
		const char *name = lua_tostring(L, -1);
		if (name && !strcmp(name, "sentence"))
			kind = ERROR_SENTENCE;
		else if (name && !strcmp(name, "diagnostic"))
			kind = ERROR_DIAGNOSTIC;
		else if (name && !strcmp(name, "interrupt"))
			kind = ERROR_INTERRUPT;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
	return kind;
}

static int traceback(lua_State *L)
{
	last_error_kind = error_kind_of(L, 1);
	if (last_error_kind != ERROR_LUA && !getenv("BPFLUA_DEBUG"))
		return 1;
	const char *msg = lua_tostring(L, 1);
	if (!msg) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
			return 1;
		msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	luaL_traceback(L, L, msg, 1);
	return 1;
}

/* Runs the chunk on the stack with n arguments; prints the error (see error_kind). Returns
 * the status, or INTERRUPTED when Ctrl-C ended the chunk. */
#define INTERRUPTED (-1)

static int run_chunk(lua_State *L, int status, int nargs)
{
	last_error_kind = ERROR_LUA;
	if (status == 0) {
		int base = lua_gettop(L) - nargs;
		lua_pushcfunction(L, traceback);
		lua_insert(L, base);
		status = lua_pcall(L, nargs, 0, base);
		lua_remove(L, base);
	}
	if (status != 0) {
		const char *msg = lua_tostring(L, -1);
		if (!msg)
			msg = "(error object is not a string)";
		if (last_error_kind == ERROR_INTERRUPT) {
			fprintf(stderr, "%s: interrupted\n", progname);
			if (getenv("BPFLUA_DEBUG"))
				fprintf(stderr, "%s\n", msg);
			status = INTERRUPTED;
		} else if (last_error_kind == ERROR_DIAGNOSTIC) {
			fprintf(stderr, "%s\n", msg); /* file:line:col: error: ..., as a compiler's */
		} else {
			fprintf(stderr, "%s: %s\n", progname, msg);
		}
		lua_pop(L, 1);
	}
	return status;
}

/* arg as lua.c sets it: arg[0] the script, arg[1..] its arguments, arg[-1] the program. */
static void set_arg_table(lua_State *L, char **argv, int argc, int script)
{
	lua_createtable(L, argc - script - 1, script + 1);
	for (int i = 0; i < argc; i++) {
		lua_pushstring(L, argv[i]);
		lua_rawseti(L, -2, i - script);
	}
	lua_setglobal(L, "arg");
}

/* The installed modules come first on package.path, so the host finds them under any
 * prefix; a stock luajit finds them through its default path. */
static void set_module_path(lua_State *L)
{
	const char *dir = getenv("BPFLUA_LUA_DIR");
	if (!dir || !*dir)
		dir = BPFLUA_LUA_DIR;
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "path");
	lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s", dir, dir, lua_tostring(L, -1));
	lua_setfield(L, -3, "path");
	lua_pop(L, 2);
}

static int run_script(lua_State *L, const char *path, char **argv, int argc, int script)
{
	set_arg_table(L, argv, argc, script);
	int status = luaL_loadfile(L, path);
	int nargs = 0;
	if (status == 0) {
		for (int i = script + 1; i < argc; i++, nargs++)
			lua_pushstring(L, argv[i]);
	}
	return run_chunk(L, status, nargs);
}

/* The REPL runs until Ctrl-D. It catches the errors of what it runs, Ctrl-C included; a
 * Ctrl-C that lands between two inputs, outside its protection, only starts it again. */
static int run_repl(lua_State *L)
{
	interactive = 1;
	int status;
	do {
		bpflua_set_interrupted(0);
		status = run_chunk(L, luaL_loadstring(L, "require('bpflua.repl').run()"), 0);
	} while (status == INTERRUPTED);
	return status;
}

/* What the command line asks for (see usage). */
struct host_options {
	int argc;
	char **argv;
	int script;       /* the index in argv of the script ("-" for standard input), or 0 */
	const char *code; /* -e */
	int repl;         /* -i */
	int status;       /* what running them came to: 0 when all succeeded */
};

/* The outcome of parse_options when the command line itself is the whole job (-h, -v,
 * --prepare) or is
 * wrong: the exit status; otherwise RUN. */
#define RUN (-1)

static int parse_options(int argc, char **argv, struct host_options *opts)
{
	*opts = (struct host_options){.argc = argc, .argv = argv};
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--version")) {
			print_versions();
			return 0;
		} else if (!strcmp(argv[i], "--prepare")) {
			return prepare();
		} else if (!strcmp(argv[i], "--cache-stats")) {
			return cache_stats();
		} else if (!strcmp(argv[i], "--cache-clear")) {
			return cache_clear();
		} else if (!strcmp(argv[i], "-e")) {
			if (++i >= argc) {
				fprintf(stderr, "%s: -e needs an argument\n", progname);
				usage(stderr);
				return 1;
			}
			opts->code = argv[i];
		} else if (!strcmp(argv[i], "-i")) {
			opts->repl = 1;
		} else if (!strcmp(argv[i], "-") || argv[i][0] != '-') {
			opts->script = i;
			break;
		} else if (!strcmp(argv[i], "--")) {
			if (i + 1 < argc)
				opts->script = i + 1;
			break;
		} else {
			fprintf(stderr, "%s: unknown option '%s'\n", progname, argv[i]);
			usage(stderr);
			return 1;
		}
	}
	return RUN;
}

/* ---- Precompiled modules -------------------------------------------------------------------
 *
 * The build and the install write each module's LuaJIT bytecode beside its source
 * (bpflua/bpf.ljbc beside bpflua/bpf.lua, `luajit -b -g`): loading it skips parsing, ~60% of
 * the time `require("bpflua")` takes. A searcher before Lua's own loads it when it is at
 * least as new as the source and this LuaJIT can load it (the same bytecode version); else
 * the source is loaded as usual, so an edited source or another LuaJIT only costs the parse.
 * The chunk is named after the source, as if the source had been loaded: error messages,
 * tracebacks and bpflua/errors.lua's test of which frames are bpflua's own see no difference. */

static int read_uleb128(const unsigned char **p, const unsigned char *end, size_t *value)
{
	*value = 0;
	for (int shift = 0; *p < end && shift < 35; shift += 7) {
		unsigned char byte = *(*p)++;
		*value |= (size_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return 0;
	}
	return -1;
}

static void write_uleb128(luaL_Buffer *b, size_t value)
{
	do {
		unsigned char byte = value & 0x7f;
		value >>= 7;
		luaL_addchar(b, (char)(byte | (value ? 0x80 : 0)));
	} while (value);
}

#define BYTECODE_FLAG_STRIP 0x02 /* lj_bcdump.h: no debug info, and no chunk name */

/* Loads bytecode (a dump: ESC 'L' 'J' version, flags, then the chunk name unless stripped)
 * as the chunk chunkname; 0, or non-zero with nothing pushed. */
static int load_bytecode(lua_State *L, const char *data, size_t len, const char *chunkname)
{
	const unsigned char *p = (const unsigned char *)data, *end = p + len;
	size_t flags, name_len;
	if (len < 4 || memcmp(p, "\033LJ", 3) != 0)
		return -1;
	p += 4;
	if (read_uleb128(&p, end, &flags) < 0)
		return -1;
	const unsigned char *header_end = p;
	if (!(flags & BYTECODE_FLAG_STRIP)) {
		if (read_uleb128(&p, end, &name_len) < 0 || name_len > (size_t)(end - p))
			return -1;
		p += name_len;
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addlstring(&b, data, (size_t)(header_end - (const unsigned char *)data));
	if (!(flags & BYTECODE_FLAG_STRIP)) {
		write_uleb128(&b, strlen(chunkname));
		luaL_addstring(&b, chunkname);
	}
	luaL_addlstring(&b, (const char *)p, (size_t)(end - p));
	luaL_pushresult(&b);
	size_t patched_len;
	const char *patched = lua_tolstring(L, -1, &patched_len);
	int status = luaL_loadbuffer(L, patched, patched_len, chunkname);
	lua_remove(L, -2);
	if (status != 0)
		lua_pop(L, 1);
	return status;
}

/* package.loaders' entry for bpflua's modules: the loaded bytecode, or nothing (the next
 * searcher finds the source). */
static int search_bytecode(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	if (strcmp(name, "bpflua") != 0 && strncmp(name, "bpflua.", 7) != 0)
		return 0;
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "searchpath");
	if (!lua_isfunction(L, -1))
		return 0;
	lua_pushvalue(L, 1);
	lua_getfield(L, -3, "path");
	lua_call(L, 2, 1);
	const char *source = lua_tostring(L, -1);
	size_t source_len = source ? strlen(source) : 0;
	if (source_len < 4 || strcmp(source + source_len - 4, ".lua") != 0)
		return 0;
	lua_pushlstring(L, source, source_len - 4);
	lua_pushliteral(L, ".ljbc");
	lua_concat(L, 2);
	const char *bytecode_path = lua_tostring(L, -1);
	struct stat src_st, bc_st;
	if (stat(source, &src_st) < 0 || stat(bytecode_path, &bc_st) < 0 ||
	    bc_st.st_mtim.tv_sec < src_st.st_mtim.tv_sec ||
	    (bc_st.st_mtim.tv_sec == src_st.st_mtim.tv_sec &&
	     bc_st.st_mtim.tv_nsec < src_st.st_mtim.tv_nsec))
		return 0;
	FILE *f = fopen(bytecode_path, "rbe");
	if (!f)
		return 0;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	size_t n;
	do {
		char *space = luaL_prepbuffer(&b);
		n = fread(space, 1, LUAL_BUFFERSIZE, f);
		luaL_addsize(&b, n);
	} while (n == LUAL_BUFFERSIZE);
	int failed = ferror(f);
	fclose(f);
	luaL_pushresult(&b);
	if (failed)
		return 0;
	lua_pushfstring(L, "@%s", source);
	size_t len;
	const char *data = lua_tolstring(L, -2, &len);
	if (load_bytecode(L, data, len, lua_tostring(L, -1)) != 0)
		return 0;
	return 1;
}

/* Puts search_bytecode before Lua's own file searcher (package.loaders[2]). */
static void add_bytecode_searcher(lua_State *L)
{
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "loaders");
	int n = (int)lua_objlen(L, -1);
	for (int i = n; i >= 2; i--) {
		lua_rawgeti(L, -1, i);
		lua_rawseti(L, -2, i + 1);
	}
	lua_pushcfunction(L, search_bytecode);
	lua_rawseti(L, -2, 2);
	lua_pop(L, 2);
}

/* The standard libraries, the module path and the line editor's module. */
static void open_libraries(lua_State *L)
{
	luaL_openlibs(L);
	set_module_path(L);
	add_bytecode_searcher(L);
	lua_getglobal(L, "package");
	lua_getfield(L, -1, "preload");
	lua_pushcfunction(L, load_lineedit);
	lua_setfield(L, -2, "bpflua.lineedit");
	lua_pop(L, 2);
}

/* -e, then the script, then the REPL, as lua does; 0 when all of it succeeded. */
static int run(lua_State *L, struct host_options *opts)
{
	int argc = opts->argc, script = opts->script, repl = opts->repl;
	char **argv = opts->argv;
	const char *code = opts->code;
	int status = 0;
	if (code) {
		set_arg_table(L, argv, argc, script ? script : argc - 1);
		/* One-liners have the REPL's globals at hand: BPF, ffi, fields(), struct()... */
		static const char preload[] = "require('bpflua.repl').setup_globals(_G)";
		status = run_chunk(L, luaL_loadbuffer(L, preload, sizeof(preload) - 1, "=(bpflua)"), 0);
		if (status == 0)
			status = run_chunk(L, luaL_loadbuffer(L, code, strlen(code), "=(command line)"), 0);
	}
	if (status == 0 && script) {
		const char *path = strcmp(argv[script], "-") ? argv[script] : NULL;
		status = run_script(L, path, argv, argc, script);
	} else if (status == 0 && !code && !repl) {
		/* As lua does: the REPL on a terminal, otherwise standard input is the script. */
		if (isatty(STDIN_FILENO))
			repl = 1;
		else
			status = run_script(L, NULL, argv, argc, 0);
	}
	if (repl) {
		if (!script && !code)
			set_arg_table(L, argv, argc, 0);
		/* As lua -i does, the REPL comes even after a script that failed. */
		status = run_repl(L);
	}
	return status;
}

/* The whole job under lua_cpcall, as lua.c's pmain: an error opening the libraries (out of
 * memory) is caught like any other. lua_cpcall drops what it returns: the status goes in
 * opts. */
static int protected_main(lua_State *L)
{
	struct host_options *opts = lua_touserdata(L, 1);
	lua_pop(L, 1);
	open_libraries(L);
	interactive = opts->repl;
	global_L = L;
	install_signal_handlers();
	opts->status = run(L, opts);
	return 0;
}

int main(int argc, char **argv)
{
	if (argv[0] && argv[0][0])
		progname = argv[0];
	struct host_options opts;
	int exit_status = parse_options(argc, argv, &opts);
	if (exit_status != RUN)
		return exit_status;

	lua_State *L = luaL_newstate();
	if (!L) {
		fprintf(stderr, "%s: cannot create a Lua state: out of memory\n", progname);
		return 1;
	}
	int status = lua_cpcall(L, protected_main, &opts);
	if (status == 0)
		status = opts.status;
	else
		run_chunk(L, status, 0); /* an error outside run_chunk's own protection */

	/* Closing the state runs every finalizer: whatever the script attached is detached. */
	global_L = NULL;
	lua_close(L);
	alarm(0);
	/* A Ctrl-C that ended the script, or one that came too late for Lua to see it. */
	if (status == INTERRUPTED || bpflua_interrupted())
		return EXIT_INTERRUPTED;
	return status == 0 ? 0 : 1;
}
