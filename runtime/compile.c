/* bpflua_compile: bcc-style C -> BPF ELF, through the object cache.
 *
 * The steps: rewrite the table calls (rewrite.c), generate the TRACEPOINT_PROBE argument
 * structs (tracefs.c), assemble the translation unit, and look its key up in the cache. Only
 * on a miss is the Clang half dlopened; it then makes sure the prelude PCH for this kernel
 * exists (building vmlinux.h from BTF first if needed) and compiles against it. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "cache.h"
#include "clang_compiler.h"
#include "diagnostic.h"
#include "kernel_types.h"
#include "rewrite.h"
#include "sha256.h"
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

/* What a file adds to a key: its contents (small headers) or its identity (shared objects,
 * which are large and change only when reinstalled). */
static void key_add_file(struct sha256 *key, const char *path, int by_contents)
{
	sha256_update_str(key, path);
	if (by_contents) {
		size_t len = 0;
		char *data = file_read(path, &len);
		if (data)
			sha256_update(key, data, len);
		free(data);
		return;
	}
	struct stat st;
	char id[96] = "";
	if (stat(path, &st) == 0)
		snprintf(id, sizeof(id), "%lld.%lld.%ld", (long long)st.st_size,
			 (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	sha256_update_str(key, id);
}

static void key_add_self(struct sha256 *key)
{
	Dl_info info;
	if (dladdr((void *)bpflua_compile, &info) && info.dli_fname)
		key_add_file(key, info.dli_fname, 0);
	/* The compiler links Clang and LLVM statically: its file stands for their version. */
	key_add_file(key, clang_lib(), 0);
}

/* ---- The compile job -------------------------------------------------------------------- */

struct job {
	const struct bpflua_compile_opts *opts;
	struct rewrite_result rewritten;
	char *unit;                 /* the translation unit handed to Clang */
	size_t unit_len;
	const char **args;          /* base + user args for Clang (not -D/-U, which go in unit) */
	char *include_bpf, *include_compat; /* -I for bpf_dir(), owned by the job */
	int nargs;
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

/* The unit: the table-call macros, tracepoint structs, -D/-U from cflags, then the user's
 * rewritten text under a #line that makes Clang report positions in it. */
static int build_unit(struct job *job)
{
	const struct bpflua_compile_opts *opts = job->opts;
	FILE *u = open_memstream(&job->unit, &job->unit_len);
	if (!u)
		return -1;
	fputs(job->rewritten.prologue, u);
	int failed = 0;
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
				snprintf(message, sizeof(message),
					 "tracepoint %s:%s: tracefs is not mounted and could not be "
					 "mounted at /sys/kernel/tracing",
					 tp->category, tp->event);
			else
				snprintf(message, sizeof(message), "tracepoint %s:%s: cannot read its format: %s",
					 tp->category, tp->event, strerror(-err));
			diagnostic_print(job->errors, opts->source_name, opts->source,
					 opts->source_len, tp->line, tp->col, "error", message);
			failed = 1;
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
	fprintf(u, "#line 1 \"%s\"\n", opts->source_name);
	fwrite(job->rewritten.text, 1, opts->source_len, u);
	/* As bcc: GPL unless the program says otherwise with -DBPF_LICENSE=... */
	fputs("\n#line 1 \"<bpflua license>\"\n"
	      "#ifndef BPF_LICENSE\n#define BPF_LICENSE GPL\n#endif\n"
	      "char __bpflua_license[] SEC(\"license\") = "
	      "BPFLUA_EXPAND_STRINGIFY(BPF_LICENSE);\n", u);
	if (fclose(u) != 0)
		return -1;
	return failed ? -1 : 0;
}

static int build_args(struct job *job)
{
	const struct bpflua_compile_opts *opts = job->opts;
	job->args = calloc((size_t)(NBASE_ARGS + opts->ncflags + 8), sizeof(char *));
	job->include_bpf = str_printf("-I%s", bpf_dir());
	job->include_compat = str_printf("-I%s/compat", bpf_dir());
	if (!job->args || !job->include_bpf || !job->include_compat)
		return -1;
	for (int i = 0; i < NBASE_ARGS; i++)
		job->args[job->nargs++] = base_args[i];
	job->args[job->nargs++] = target_arch_define();
	job->args[job->nargs++] = job->include_bpf;
	job->args[job->nargs++] = job->include_compat;
	job->args[job->nargs++] = "-idirafter" LIBBPF_INCLUDE_DIR;
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
			key_add_file(&k, path, 1);
		free(path);
	}
	for (size_t i = 0; i < sizeof(libbpf_headers) / sizeof(libbpf_headers[0]); i++)
		key_add_file(&k, libbpf_headers[i], 1);
	for (int i = 0; i < job->nargs; i++)
		sha256_update_str(&k, job->args[i]);
	sha256_hex(&k, job->pch_key);

	sha256_init(&k);
	sha256_update_str(&k, job->pch_key);
	sha256_update(&k, job->unit, job->unit_len);
	sha256_update_str(&k, "");
	for (int i = 0; i < job->opts->ncflags; i++)
		sha256_update_str(&k, job->opts->cflags[i]);
	sha256_hex(&k, job->object_key);
}

/* ---- Clang, on a cache miss --------------------------------------------------------------- */

static bpflua_clang_run_fn load_clang(struct job *job)
{
	const char *path = clang_lib();
	void *handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL); /* lazy: LLVM has ~100k symbols */
	if (!handle) {
		job_error(job, "cannot load bpflua's compiler: %s", dlerror());
		return NULL;
	}
	bpflua_clang_run_fn run = (bpflua_clang_run_fn)dlsym(handle, BPFLUA_CLANG_ENTRY);
	if (!run)
		job_error(job, "cannot load bpflua's compiler: %s has no %s", path,
			  BPFLUA_CLANG_ENTRY);
	return run;
}

/* Prints Clang's diagnostics, pointing into the user's own text where they fall in it. */
static void report_clang_diagnostics(struct job *job, char *records, int errors_only)
{
	const struct bpflua_compile_opts *opts = job->opts;
	char *save;
	for (char *rec = strtok_r(records, "\n", &save); rec; rec = strtok_r(NULL, "\n", &save)) {
		char *field[5];
		int n = 0;
		for (char *p = rec; n < 5; n++) {
			field[n] = p;
			if (n == 4)
				break;
			p = strchr(p, '\t');
			if (!p)
				break;
			*p++ = '\0';
		}
		if (n < 4)
			continue;
		if (errors_only && strcmp(field[0], "error") != 0)
			continue;
		int line = atoi(field[2]), col = atoi(field[3]);
		if (!strcmp(field[1], opts->source_name))
			diagnostic_print(job->errors, opts->source_name, opts->source,
					 opts->source_len, line, col, field[0], field[4]);
		else if (line > 0)
			fprintf(job->errors, "%s:%d:%d: %s: %s\n", field[1], line, col, field[0],
				field[4]);
		else
			fprintf(job->errors, "%s: %s\n", field[0], field[4]);
	}
}

/* The prelude PCH for this kernel, compiler and header set; built when missing. */
static char *ensure_pch(struct job *job, bpflua_clang_run_fn clang)
{
	char *kernel_dir = str_printf("%s/kernel-%.16s", cache_dir(), job->kernel_key);
	char *vmlinux = str_printf("%s/vmlinux.h", kernel_dir);
	char *pch = str_printf("%s/prelude-%.32s.pch", cache_dir(), job->pch_key);
	char *main = str_printf("%s/prelude-%.32s.h", cache_dir(), job->pch_key);
	char *include_dir = str_printf("-I%s", kernel_dir);
	char *error = NULL;
	int ok = 0;
	if (!kernel_dir || !vmlinux || !pch || !main || !include_dir)
		goto out;
	if (access(pch, R_OK) == 0) {
		ok = 1;
		goto out;
	}
	mkdir(kernel_dir, 0700);
	if (access(vmlinux, R_OK) != 0 && kernel_types_write_vmlinux_h(vmlinux, &error) < 0) {
		job_error(job, "%s", error);
		goto out;
	}
	/* The PCH's main file lives on disk: a PCH is checked against its inputs when used. */
	static const char prelude_main[] = "#include <bpflua/prelude.h>\n";
	if (access(main, R_OK) != 0 && file_write_atomic(main, prelude_main, strlen(prelude_main)) < 0) {
		job_error(job, "cannot write %s: %s", main, strerror(errno));
		goto out;
	}
	const char **args = calloc((size_t)job->nargs + 1, sizeof(char *));
	if (!args)
		goto out;
	memcpy(args, job->args, sizeof(char *) * (size_t)job->nargs);
	args[job->nargs] = include_dir;
	char *tmp = str_printf("%s.tmp.%d", pch, (int)getpid());
	struct bpflua_clang_request req = {
		.source_name = main, .args = args, .nargs = job->nargs + 1, .pch_path = tmp};
	struct bpflua_clang_result res;
	int rc = clang(&req, &res);
	if (rc != 0) {
		job_error(job, "cannot precompile bpflua's prelude (%s):", main);
		report_clang_diagnostics(job, res.diagnostics ? res.diagnostics : "", 1);
	} else if (rename(tmp, pch) < 0) {
		job_error(job, "cannot write %s: %s", pch, strerror(errno));
	} else {
		ok = 1;
	}
	unlink(tmp);
	free(tmp);
	free(res.diagnostics);
	free(res.object);
	free(args);
out:
	free(error);
	free(kernel_dir);
	free(vmlinux);
	free(main);
	if (!ok) {
		free(pch);
		pch = NULL;
	}
	free(include_dir);
	return pch;
}

static struct bpflua_compiled *compile_with_clang(struct job *job)
{
	bpflua_clang_run_fn clang = load_clang(job);
	if (!clang)
		return NULL;
	char *pch = ensure_pch(job, clang);
	if (!pch)
		return NULL;
	const char **args = calloc((size_t)job->nargs + (size_t)job->opts->ncflags + 3, sizeof(char *));
	if (!args) {
		free(pch);
		return NULL;
	}
	int n = 0;
	for (int i = 0; i < job->nargs; i++)
		args[n++] = job->args[i];
	args[n++] = "-include-pch";
	args[n++] = pch;
	for (int i = 0; i < job->opts->ncflags; i++) {
		const char *f = job->opts->cflags[i];
		if (strncmp(f, "-D", 2) != 0 && strncmp(f, "-U", 2) != 0)
			args[n++] = f;
	}
	struct bpflua_clang_request req = {
		.source = job->unit,
		.source_len = job->unit_len,
		.source_name = "/bpflua/unit.c",
		.args = args,
		.nargs = n,
	};
	struct bpflua_clang_result res;
	int rc = clang(&req, &res);
	struct bpflua_compiled *compiled = NULL;
	if (rc != 0) {
		report_clang_diagnostics(job, res.diagnostics ? res.diagnostics : "", 1);
		free(res.object);
	} else {
		if (job->opts->debug)
			report_clang_diagnostics(job, res.diagnostics ? res.diagnostics : "", 0);
		compiled = calloc(1, sizeof(*compiled));
		if (compiled) {
			compiled->object = res.object;
			compiled->object_len = res.object_len;
			compiled->metadata = res.metadata ? res.metadata : strdup("");
		} else {
			free(res.object);
			free(res.metadata);
		}
	}
	free(res.diagnostics);
	free(args);
	free(pch);
	return compiled;
}

/* ---- The entry point ---------------------------------------------------------------------- */

struct bpflua_compiled *bpflua_compile(const struct bpflua_compile_opts *opts, char **error)
{
	struct job job = {.opts = opts};
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
		fprintf(stderr, "bpflua: the C handed to Clang:\n%.*s\n", (int)job.unit_len, job.unit);
	compute_keys(&job);

	/* An entry is the ELF and its metadata; the metadata is written first, so an ELF in
	 * the cache always has its metadata beside it. */
	char name[128];
	snprintf(name, sizeof(name), "object-%s.o", job.object_key);
	char *path = cache_path(name);
	snprintf(name, sizeof(name), "object-%s.meta", job.object_key);
	char *meta_path = cache_path(name);
	size_t len = 0;
	char *cached = path ? file_read(path, &len) : NULL;
	char *cached_meta = cached && meta_path ? file_read(meta_path, NULL) : NULL;
	if (cached && cached_meta) {
		compiled = calloc(1, sizeof(*compiled));
		if (compiled) {
			compiled->object = cached;
			compiled->object_len = len;
			compiled->metadata = cached_meta;
			compiled->cache_hit = 1;
			cached = cached_meta = NULL;
		}
	} else {
		compiled = compile_with_clang(&job);
		if (compiled && path && meta_path &&
		    file_write_atomic(meta_path, compiled->metadata, strlen(compiled->metadata)) == 0)
			file_write_atomic(path, compiled->object, compiled->object_len);
	}
	free(cached);
	free(cached_meta);
	free(meta_path);
	free(path);
out:
	free(rewrite_error);
	rewrite_result_free(&job.rewritten);
	free(job.unit);
	free(job.args);
	free(job.include_bpf);
	free(job.include_compat);
	fclose(job.errors);
	if (!compiled) {
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

void bpflua_compiled_free(struct bpflua_compiled *compiled)
{
	if (!compiled)
		return;
	free(compiled->object);
	free(compiled->metadata);
	free(compiled);
}
