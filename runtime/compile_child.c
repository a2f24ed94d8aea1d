/* The compiler's process: what it does with a compile job (compile_job.h). It runs in a child
 * forked for the one compile (compiler_process.c), so it may load LLVM, and it talks to
 * bpflua_compile only through its records. */
#define _GNU_SOURCE
#include "cache.h"
#include "clang_compiler.h"
#include "compile_job.h"
#include "compiler_process.h"
#include "kernel_types.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void reply_text(struct compile_job *job, char tag, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_text(struct compile_job *job, char tag, const char *fmt, ...)
{
	va_list ap;
	char *text;
	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) < 0)
		text = NULL;
	va_end(ap);
	if (text)
		record_write(job->reply, tag, text, strlen(text));
	free(text);
}

static void reply_diagnostics(struct compile_job *job, const struct bpflua_clang_result *res,
			      int errors_only)
{
	for (int i = 0; i < res->ndiagnostics; i++) {
		const struct bpflua_clang_diagnostic *d = &res->diagnostics[i];
		if (errors_only && strcmp(d->level, "error") != 0)
			continue;
		char *rec = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&rec, &len);
		if (!out)
			continue;
		fprintf(out, "%s%c%s%c%d%c%d%c%s", d->level, 0, d->file ? d->file : "", 0, d->line,
			0, d->col, 0, d->message ? d->message : "");
		if (fclose(out) == 0)
			record_write(job->reply, REPLY_DIAGNOSTIC, rec, len);
		free(rec);
	}
}

static void reply_dependencies(struct compile_job *job, const struct bpflua_clang_result *res)
{
	for (int i = 0; i < res->ndependencies; i++) {
		char hex[65];
		/* A file that cannot be hashed now cannot be checked later: no entry then. */
		if (cache_hash_file(res->dependencies[i], hex) < 0)
			hex[0] = '\0';
		reply_text(job, REPLY_DEPENDENCY, "%s %s", hex, res->dependencies[i]);
	}
}

static bpflua_clang_run_fn load_clang(struct compile_job *job)
{
	const char *path = job->clang_lib;
	void *handle = dlopen(path, RTLD_LAZY | RTLD_LOCAL); /* lazy: LLVM has ~100k symbols */
	if (!handle) {
		reply_text(job, REPLY_ERROR, "cannot load bpflua's compiler: %s", dlerror());
		return NULL;
	}
	bpflua_clang_run_fn run = (bpflua_clang_run_fn)dlsym(handle, BPFLUA_CLANG_ENTRY);
	if (!run)
		reply_text(job, REPLY_ERROR, "cannot load bpflua's compiler: %s has no %s", path,
			   BPFLUA_CLANG_ENTRY);
	return run;
}

/* Puts a file made in the work directory in place; anything that is not a regular file
 * where it goes (a planted FIFO, a link) is replaced. */
static int install(struct compile_job *job, const char *made, const char *path)
{
	if (rename(made, path) < 0) {
		reply_text(job, REPLY_ERROR, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The prelude PCH for this kernel, compiler and header set; built when missing. Its
 * temporaries go in this process's work directory, which the host removes should this
 * process die. */
static int ensure_pch(struct compile_job *job, bpflua_clang_run_fn clang)
{
	if (cache_is_regular(job->pch))
		return 0;
	reply_text(job, REPLY_STAGE, "precompiling bpflua's prelude (%s)", job->pch);
	cache_remove_dead_work_dirs();
	char *work = cache_work_dir(getpid());
	char *tmp_vmlinux = str_printf("%s/vmlinux.h", work ? work : "");
	char *tmp_main = str_printf("%s/prelude.h", work ? work : "");
	char *tmp_pch = str_printf("%s/prelude.pch", work ? work : "");
	char *include_dir = str_printf("-I%s", job->kernel_dir);
	const char **args = calloc((size_t)job->nargs + 1, sizeof(char *));
	char *error = NULL;
	int ret = -1;
	if (!work || !tmp_vmlinux || !tmp_main || !tmp_pch || !include_dir || !args)
		goto out;
	if (mkdir(work, 0700) < 0 && errno != EEXIST) {
		reply_text(job, REPLY_ERROR, "cannot write %s: %s", work, strerror(errno));
		goto out;
	}
	struct stat st;
	if (mkdir(job->kernel_dir, 0700) < 0 && errno != EEXIST) {
		reply_text(job, REPLY_ERROR, "cannot write %s: %s", job->kernel_dir, strerror(errno));
		goto out;
	}
	if (lstat(job->kernel_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		reply_text(job, REPLY_ERROR, "cannot use %s: it is not a directory", job->kernel_dir);
		goto out;
	}
	if (!cache_is_regular(job->vmlinux) &&
	    kernel_types_write_vmlinux_h(job->vmlinux, tmp_vmlinux, &error) < 0) {
		reply_text(job, REPLY_ERROR, "%s", error);
		goto out;
	}
	/* The PCH's main file lives on disk: a PCH is checked against its inputs when used. */
	static const char prelude_main[] = "#include <bpflua/prelude.h>\n";
	if (!cache_is_regular(job->prelude_main)) {
		int err = file_write_atomic(tmp_main, prelude_main, strlen(prelude_main));
		if (err) {
			reply_text(job, REPLY_ERROR, "cannot write %s: %s", tmp_main, strerror(-err));
			goto out;
		}
		if (install(job, tmp_main, job->prelude_main) < 0)
			goto out;
	}
	memcpy(args, job->args, sizeof(char *) * (size_t)job->nargs);
	args[job->nargs] = include_dir;
	struct bpflua_clang_request req = {
		.source_name = job->prelude_main, .args = args, .nargs = job->nargs + 1,
		.pch_path = tmp_pch};
	struct bpflua_clang_result res;
	if (clang(&req, &res) != 0) {
		reply_text(job, REPLY_ERROR, "cannot precompile bpflua's prelude (%s):", job->prelude_main);
		reply_diagnostics(job, &res, 1);
	} else if (install(job, tmp_pch, job->pch) == 0) {
		ret = 0;
	}
	bpflua_clang_result_free(&res);
out:
	free(error);
	free(args);
	free(include_dir);
	free(tmp_pch);
	free(tmp_main);
	free(tmp_vmlinux);
	if (work)
		remove_tree(work);
	free(work);
	return ret;
}

/* The child's whole job: returns 0 when it sent an object. */
int compile_job_run(void *arg, int reply)
{
	struct compile_job *job = arg;
	job->reply = reply;
	bpflua_clang_run_fn clang = load_clang(job);
	if (!clang || ensure_pch(job, clang) < 0)
		return -1;
	const char **args = calloc((size_t)job->nargs + (size_t)job->opts->ncflags + 3, sizeof(char *));
	if (!args)
		return -1;
	int n = 0;
	for (int i = 0; i < job->nargs; i++)
		args[n++] = job->args[i];
	args[n++] = "-include-pch";
	args[n++] = job->pch;
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
	reply_text(job, REPLY_STAGE, "compiling %s", job->opts->source_name);
	struct bpflua_clang_result res;
	int rc = clang(&req, &res);
	reply_diagnostics(job, &res, rc != 0 || !job->opts->debug);
	if (rc == 0) {
		reply_dependencies(job, &res);
		const char *metadata = res.metadata ? res.metadata : "";
		record_write(reply, REPLY_METADATA, metadata, strlen(metadata));
		record_write(reply, REPLY_OBJECT, res.object, res.object_len);
	}
	bpflua_clang_result_free(&res);
	free(args);
	return rc;
}
