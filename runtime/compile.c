/* bpflua_compile: bcc-style C -> BPF ELF, through the object cache.
 *
 * The steps: rewrite the table calls (rewrite.c), generate the TRACEPOINT_PROBE argument
 * structs (tracefs.c), assemble the translation unit, and look its key up in the cache
 * (cache.c). Only on a miss does a child process start (compiler_process.c) to run the
 * compile job (compile_child.c): it dlopens the Clang half, compiles against the prelude PCH
 * for this kernel (or, before that is built, against the kernel types the unit names, and
 * leaves building it to the background), and sends back the ELF, the metadata, the
 * diagnostics and the headers it read; this process formats the diagnostics against the
 * user's text (diagnostic.c) and stores the entry. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "cache.h"
#include "compile_job.h"
#include "compiler_process.h"
#include "diagnostic.h"
#include "kernel_types.h"
#include "rewrite.h"
#include "sha256.h"
#include "struct_shadow.h"
#include "kernel_config.h"
#include "tracefs.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#ifndef BPFLUA_BPF_DIR
#error "BPFLUA_BPF_DIR must name the installed bpf/ headers"
#endif

/* The clang arguments every compile uses, PCH and scripts alike: a PCH refuses to be used
 * with any option it was not built with. */
static const char *const base_args[] = {
	"-O2", "-g", "-gdwarf-4", /* DWARF 5 would MD5 every source file, vmlinux.h too */
	"-resource-dir", CLANG_RESOURCE_DIR,
	"-fno-stack-protector",
	"-fpch-validate-input-files-content",
	"-Wno-unused-value", "-Wno-pointer-sign", "-Wno-compare-distinct-pointer-types",
	"-Wno-gnu-variable-sized-type-not-at-end", "-Wno-address-of-packed-member",
	"-Wno-tautological-compare", "-Wno-unknown-warning-option", "-Wno-gnu-folding-constant",
	"-Wno-unused-function",
};
#define NBASE_ARGS ((int)(sizeof(base_args) / sizeof(base_args[0])))

/* The bpf/ headers: installed, or the build tree's when BPFLUA_BPF_DIR says so (the specs
 * test the tree, not an installed copy). */
static const char *bpf_dir(void)
{
	const char *dir = getenv("BPFLUA_BPF_DIR");
	return dir && *dir ? dir : BPFLUA_BPF_DIR;
}

/* The compiler plugin: installed, or the one BPFLUA_CLANG_LIB names. */
static const char *clang_lib(void)
{
	const char *path = getenv("BPFLUA_CLANG_LIB");
	return path && *path ? path : BPFLUA_CLANG_LIB;
}

/* Files under bpf_dir() whose contents a PCH depends on, besides vmlinux.h. */
static const char *const prelude_headers[] = {
	"bpflua/prelude.h",
	"bpflua/bcc_compat.h",
	"bpflua/tables.h",
	"bpflua/kernel_macros.h",
	"bpflua/usdt.h", /* not in the prelude, but -include'd by BPF{usdt_contexts = ...} */
};

/* libbpf's headers that the prelude includes. */
static const char *const libbpf_headers[] = {
	LIBBPF_INCLUDE_DIR "/bpf/bpf_helpers.h",
	LIBBPF_INCLUDE_DIR "/bpf/bpf_helper_defs.h",
	LIBBPF_INCLUDE_DIR "/bpf/bpf_tracing.h",
	LIBBPF_INCLUDE_DIR "/bpf/bpf_core_read.h",
};

static const char *target_arch_define(void)
{
	struct utsname u;
	if (uname(&u) == 0) {
		if (!strcmp(u.machine, "aarch64"))
			return "-D__TARGET_ARCH_arm64";
		if (!strncmp(u.machine, "s390", 4))
			return "-D__TARGET_ARCH_s390";
		if (!strncmp(u.machine, "ppc64", 5))
			return "-D__TARGET_ARCH_powerpc";
		if (!strncmp(u.machine, "riscv", 5))
			return "-D__TARGET_ARCH_riscv";
	}
	return "-D__TARGET_ARCH_x86";
}

/* What a file adds to a key: its identity, which changes whenever its contents may have: a
 * write changes its modification and change times, a reinstall (a new file renamed into
 * place) its inode, and no one can set the change time back. Not its contents: hashing the
 * ~300 KB of headers on every run was most of a cache hit's time, and an identity that
 * changes without the contents (touch, a reinstall) costs one compile, never a stale object.
 * Neither the device: an overlay filesystem (a container) has a new one at each mount. */
static void key_add_file(struct sha256 *key, const char *path)
{
	sha256_update_str(key, path);
	struct stat st;
	char id[160] = "";
	if (stat(path, &st) == 0)
		snprintf(id, sizeof(id), "%lld %llu %lld.%ld %lld.%ld", (long long)st.st_size,
			 (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
			 st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
	sha256_update_str(key, id);
}

static void key_add_self(struct sha256 *key)
{
	Dl_info info;
	if (dladdr((void *)bpflua_compile, &info) && info.dli_fname)
		key_add_file(key, info.dli_fname);
	/* The compiler links Clang and LLVM statically: its file stands for their version. */
	key_add_file(key, clang_lib());
}

/* 1 when path is a header whose identity the keys hold already (a compile without the
 * prelude's PCH reads them): an entry need not hash its contents again at each hit. */
static int key_holds(const char *path)
{
	for (size_t i = 0; i < sizeof(libbpf_headers) / sizeof(libbpf_headers[0]); i++)
		if (!strcmp(path, libbpf_headers[i]))
			return 1;
	size_t dir_len = strlen(bpf_dir());
	if (strncmp(path, bpf_dir(), dir_len) != 0 || path[dir_len] != '/')
		return 0;
	for (size_t i = 0; i < sizeof(prelude_headers) / sizeof(prelude_headers[0]); i++)
		if (!strcmp(path + dir_len + 1, prelude_headers[i]))
			return 1;
	return 0;
}

/* ---- The compile job -------------------------------------------------------------------- */

struct job {
	const struct bpflua_compile_opts *opts;
	struct rewrite_result rewritten;
	struct compile_job task;    /* what the compiler's process does, on a miss */
	char *include_bpf, *include_compat; /* -I for bpf_dir(), owned by the job */
	char kernel_key[65], pch_key[65], object_key[65];
	FILE *errors;               /* diagnostics for the user */
	char *errors_text;
	size_t errors_len;
};

static void job_error(struct job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void job_error(struct job *job, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(job->errors, fmt, ap);
	va_end(ap);
	fputc('\n', job->errors);
}

/* A file name inside a C string literal (the #line directive): quotes, backslashes and
 * control characters escaped, so a path holding them cannot end the directive early. */
static void write_c_string_body(FILE *u, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(u, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(u, "\\%03o", c);
		else
			fputc(c, u);
	}
}

/* The unit: the table-call macros, tracepoint structs, -D/-U from cflags, then the user's
 * rewritten text under a #line that makes Clang report positions in it. */
static int build_unit(struct job *job)
{
	const struct bpflua_compile_opts *opts = job->opts;
	FILE *u = open_memstream(&job->task.unit, &job->task.unit_len);
	if (!u)
		return -1;
	fputs(job->rewritten.prologue, u);
	for (int i = 0; i < job->rewritten.ntracepoints; i++) {
		struct rewrite_tracepoint *tp = &job->rewritten.tracepoints[i];
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= !strcmp(tp->category, job->rewritten.tracepoints[j].category) &&
				!strcmp(tp->event, job->rewritten.tracepoints[j].event);
		if (seen)
			continue;
		char *def = NULL;
		int err = tracefs_args_struct(tp->category, tp->event, &def);
		if (err) {
			char message[400];
			if (err == -ENOENT)
				snprintf(message, sizeof(message),
					 "tracepoint %s:%s does not exist (see %s/events/%s/)",
					 tp->category, tp->event,
					 bpflua_tracefs_dir() ? bpflua_tracefs_dir() : "tracefs",
					 tp->category);
			else if (err == -ENODEV)
				snprintf(message, sizeof(message), "tracepoint %s:%s: %s",
					 tp->category, tp->event, tracefs_unavailable());
			else
				snprintf(message, sizeof(message), "tracepoint %s:%s: cannot read its format: %s",
					 tp->category, tp->event, strerror(-err));
			/* An error only if the preprocessor keeps the probe (not under #if 0): the
			 * compiler reports it where the probe names the tracepoint
			 * (clang_compiler.cpp's AbsentTracepoints). */
			fprintf(u, "#define __bpflua_absent_tracepoint__%s__%s \"", tp->category, tp->event);
			write_c_string_body(u, message);
			fprintf(u, "\"\n#define tracepoint__%s__%s tracepoint__%s__%s\n", tp->category,
				tp->event, tp->category, tp->event);
			continue;
		}
		fputs(def, u);
		free(def);
	}
	for (int i = 0; i < opts->ncflags; i++) {
		const char *f = opts->cflags[i];
		if (!strncmp(f, "-D", 2) && f[2]) {
			char *name = strdup(f + 2), *eq = strchr(name, '=');
			if (eq)
				*eq = ' ';
			fprintf(u, "#define %s%s\n", name, eq ? "" : " 1");
			free(name);
		} else if (!strncmp(f, "-U", 2) && f[2]) {
			fprintf(u, "#undef %s\n", f + 2);
		}
	}
	struct_shadow_write(u, job->rewritten.text, opts->source_len);
	kernel_config_write(u, job->rewritten.text, opts->source_len);
	fputs("#line 1 \"", u);
	write_c_string_body(u, opts->source_name);
	fputs("\"\n", u);
	fwrite(job->rewritten.text, 1, opts->source_len, u);
	/* As bcc: GPL unless the program says otherwise with -DBPF_LICENSE=... */
	fputs("\n#line 1 \"<bpflua license>\"\n"
	      "#ifndef BPF_LICENSE\n#define BPF_LICENSE GPL\n#endif\n"
	      "char __bpflua_license[] SEC(\"license\") = "
	      "BPFLUA_EXPAND_STRINGIFY(BPF_LICENSE);\n", u);
	return fclose(u) != 0 ? -1 : 0;
}

static int build_args(struct job *job)
{
	const struct bpflua_compile_opts *opts = job->opts;
	job->task.args = calloc((size_t)(NBASE_ARGS + opts->ncflags + 8), sizeof(char *));
	job->include_bpf = str_printf("-I%s", bpf_dir());
	job->include_compat = str_printf("-I%s/compat", bpf_dir());
	if (!job->task.args || !job->include_bpf || !job->include_compat)
		return -1;
	for (int i = 0; i < NBASE_ARGS; i++)
		job->task.args[job->task.nargs++] = base_args[i];
	job->task.args[job->task.nargs++] = target_arch_define();
	job->task.args[job->task.nargs++] = job->include_bpf;
	job->task.args[job->task.nargs++] = job->include_compat;
	job->task.args[job->task.nargs++] = "-idirafter" LIBBPF_INCLUDE_DIR;
	return 0;
}

static void compute_keys(struct job *job)
{
	struct sha256 k;
	sha256_init(&k);
	kernel_types_identify(&k);
	sha256_update_str(&k, BPFLUA_VERSION);
	sha256_hex(&k, job->kernel_key);

	sha256_init(&k);
	sha256_update_str(&k, job->kernel_key);
	sha256_update_str(&k, CLANG_VERSION_STRING);
	key_add_self(&k);
	for (size_t i = 0; i < sizeof(prelude_headers) / sizeof(prelude_headers[0]); i++) {
		char *path = str_printf("%s/%s", bpf_dir(), prelude_headers[i]);
		if (path)
			key_add_file(&k, path);
		free(path);
	}
	for (size_t i = 0; i < sizeof(libbpf_headers) / sizeof(libbpf_headers[0]); i++)
		key_add_file(&k, libbpf_headers[i]);
	for (int i = 0; i < job->task.nargs; i++)
		sha256_update_str(&k, job->task.args[i]);
	sha256_hex(&k, job->pch_key);

	sha256_init(&k);
	sha256_update_str(&k, job->pch_key);
	sha256_update(&k, job->task.unit, job->task.unit_len);
	sha256_update_str(&k, "");
	for (int i = 0; i < job->opts->ncflags; i++)
		sha256_update_str(&k, job->opts->cflags[i]);
	sha256_hex(&k, job->object_key);
}

/* The cache's files for this kernel and prelude, by the keys. */
static int compute_paths(struct job *job)
{
	job->task.clang_lib = clang_lib();
	const char *dir = cache_dir();
	job->task.kernel_dir = str_printf("%s/kernel-%.16s", dir, job->kernel_key);
	job->task.vmlinux = str_printf("%s/vmlinux.h", job->task.kernel_dir);
	job->task.pch = str_printf("%s/prelude-%.32s.pch", dir, job->pch_key);
	job->task.prelude_main = str_printf("%s/prelude-%.32s.h", dir, job->pch_key);
	return job->task.kernel_dir && job->task.vmlinux && job->task.pch && job->task.prelude_main ? 0 : -1;
}

/* ---- In this process ------------------------------------------------------------------------ */

/* Takes the child's records apart: diagnostics are printed against the user's text, the
 * object and its dependencies become the result. */
static struct bpflua_compiled *read_reply(struct job *job, const struct compiler_process_output *out,
					  struct cache_dependency **deps, int *ndeps,
					  char **stage)
{
	const struct bpflua_compile_opts *opts = job->opts;
	struct diagnostic_source src = {opts->source_name, opts->source, opts->source_len};
	struct bpflua_compiled *compiled = NULL;
	const char *object = NULL, *metadata = NULL;
	size_t object_len = 0, metadata_len = 0;
	size_t pos = 0, len;
	const char *data;
	char tag;
	while (record_next(out, &pos, &tag, &data, &len) == 0) {
		if (tag == REPLY_STAGE) {
			free(*stage);
			*stage = strndup(data, len);
		} else if (tag == REPLY_ERROR) {
			fprintf(job->errors, "%.*s\n", (int)len, data);
		} else if (tag == REPLY_DIAGNOSTIC) {
			const char *field[5], *p = data, *end = data + len;
			int n = 0;
			while (n < 5 && p <= end) {
				field[n++] = p;
				const char *nul = memchr(p, '\0', (size_t)(end - p));
				p = nul ? nul + 1 : end + 1;
			}
			if (n < 5)
				continue;
			char *message = strndup(field[4], (size_t)(end - field[4]));
			struct diagnostic d = {field[0], field[1], atoi(field[2]), atoi(field[3]),
					       message ? message : ""};
			diagnostic_report(job->errors, &src, &d);
			free(message);
		} else if (tag == REPLY_DEPENDENCY) {
			const char *space = memchr(data, ' ', len);
			if (space) {
				char *path = strndup(space + 1, (size_t)(data + len - space - 1));
				int held = path && key_holds(path);
				free(path);
				if (held)
					continue;
			}
			struct cache_dependency *more = realloc(*deps, sizeof(**deps) * (size_t)(*ndeps + 1));
			if (!more)
				continue;
			*deps = more;
			struct cache_dependency *dep = &more[(*ndeps)++];
			/* "<64 hex> <path>"; anything else (a file the child could not hash) leaves
			 * the dependency without a hash, and the object uncached. */
			dep->hash[0] = '\0';
			if (space == data + 64) {
				memcpy(dep->hash, data, 64);
				dep->hash[64] = '\0';
			}
			dep->path = space ? strndup(space + 1, (size_t)(data + len - space - 1)) : NULL;
		} else if (tag == REPLY_METADATA) {
			metadata = data;
			metadata_len = len;
		} else if (tag == REPLY_OBJECT) {
			object = data;
			object_len = len;
		}
	}
	if (!object || !metadata)
		return NULL;
	compiled = calloc(1, sizeof(*compiled));
	if (!compiled)
		return NULL;
	compiled->object = malloc(object_len ? object_len : 1);
	compiled->metadata = strndup(metadata, metadata_len);
	if (!compiled->object || !compiled->metadata) {
		bpflua_compiled_free(compiled);
		return NULL;
	}
	memcpy(compiled->object, object, object_len);
	compiled->object_len = object_len;
	return compiled;
}

static struct bpflua_compiled *compile_with_clang(struct job *job)
{
	if (compute_paths(job) < 0)
		return NULL;
	struct compiler_process_output out;
	pid_t pid;
	char *failure = NULL;
	int rc = compiler_process_run(compile_job_run, &job->task, &out, &pid, &failure);
	/* Anything a child that died left half-written goes with its work directory. */
	if (pid > 0 && rc != 0)
		cache_remove_work_dir(pid);
	struct cache_dependency *deps = NULL;
	int ndeps = 0;
	char *stage = NULL;
	struct bpflua_compiled *compiled = NULL;
	if (out.records)
		compiled = read_reply(job, &out, &deps, &ndeps, &stage);
	if (rc != 0) {
		bpflua_compiled_free(compiled);
		compiled = NULL;
		if (stage)
			job_error(job, "%s: %s", stage, failure ? failure : "out of memory");
		else
			job_error(job, "%s", failure ? failure : "out of memory");
	}
	int cacheable = 1;
	for (int i = 0; i < ndeps; i++)
		cacheable &= deps[i].path && strlen(deps[i].hash) == 64;
	const char *const keep[] = {job->task.pch, job->task.prelude_main, job->task.kernel_dir, NULL};
	if (compiled && cacheable)
		cache_object_put(job->object_key, deps, ndeps, compiled->metadata, compiled->object,
				 compiled->object_len, keep);
	for (int i = 0; i < ndeps; i++)
		free(deps[i].path);
	free(deps);
	free(stage);
	free(failure);
	free(out.records);
	return compiled;
}

/* ---- The entry point ---------------------------------------------------------------------- */

static struct bpflua_compiled *compile(const struct bpflua_compile_opts *opts, int full_prelude,
				       char **error)
{
	struct job job = {.opts = opts, .task = {.opts = opts, .reply = -1, .full_prelude = full_prelude}};
	struct bpflua_compiled *compiled = NULL;
	char *rewrite_error = NULL;
	*error = NULL;
	job.errors = open_memstream(&job.errors_text, &job.errors_len);
	if (!job.errors) {
		*error = strdup("out of memory");
		return NULL;
	}
	if (!cache_dir()) {
		job_error(&job, "bpflua has no directory to compile in: neither its cache nor a "
				"temporary directory could be made");
		goto out;
	}
	if (rewrite_source(opts->source, opts->source_len, opts->source_name, &job.rewritten,
			   &rewrite_error) < 0) {
		fputs(rewrite_error ? rewrite_error : "out of memory\n", job.errors);
		goto out;
	}
	if (build_unit(&job) < 0 || build_args(&job) < 0)
		goto out;
	if (opts->debug)
		fprintf(stderr, "bpflua: the C handed to Clang:\n%.*s\n", (int)job.task.unit_len, job.task.unit);
	compute_keys(&job);

	struct cache_object hit;
	/* bpflua --prepare compiles whether or not its object is cached: what it is for is the
	 * prelude, which may have gone since (the cache's bound, a hand). */
	if (!full_prelude && cache_object_get(job.object_key, &hit)) {
		compiled = calloc(1, sizeof(*compiled));
		if (compiled) {
			compiled->object = hit.object;
			compiled->object_len = hit.object_len;
			compiled->metadata = hit.metadata;
			compiled->cache_hit = 1;
		} else {
			free(hit.object);
			free(hit.metadata);
		}
	} else {
		compiled = compile_with_clang(&job);
	}
out:
	free(rewrite_error);
	rewrite_result_free(&job.rewritten);
	free(job.task.unit);
	free(job.task.args);
	free(job.include_bpf);
	free(job.include_compat);
	free(job.task.kernel_dir);
	free(job.task.vmlinux);
	free(job.task.pch);
	free(job.task.prelude_main);
	fclose(job.errors);
	if (!compiled) {
		compiler_process_reap(); /* no result for bpflua_compiled_free to reap with */
		*error = job.errors_text && *job.errors_text ? job.errors_text
							     : strdup("compilation failed");
		if (*error != job.errors_text)
			free(job.errors_text);
		/* Drop the final newline: Lua's error adds its own line structure. */
		size_t n = *error ? strlen(*error) : 0;
		if (n && (*error)[n - 1] == '\n')
			(*error)[n - 1] = '\0';
	} else {
		free(job.errors_text);
	}
	return compiled;
}

struct bpflua_compiled *bpflua_compile(const struct bpflua_compile_opts *opts, char **error)
{
	return compile(opts, 0, error);
}

struct bpflua_compiled *compile_with_full_prelude(const struct bpflua_compile_opts *opts,
						  char **error)
{
	return compile(opts, 1, error);
}

void bpflua_compiled_free(struct bpflua_compiled *compiled)
{
	compiler_process_reap();
	if (!compiled)
		return;
	free(compiled->object);
	free(compiled->metadata);
	free(compiled);
}
