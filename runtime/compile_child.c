/* The compiler's process: what it does with a compile job (compile_job.h). It runs in a child
 * forked for the one compile (compiler_process.c), so it may load LLVM, and it talks to
 * bpflua_compile only through its records.
 *
 * With the prelude PCH built for this kernel, it compiles against it. Without (the first run
 * on a kernel, unless bpflua --prepare ran), it compiles against a vmlinux.h trimmed to the
 * kernel types the unit names, in a process of its own, and starts building the prelude in
 * the background for the runs after it; when that compile cannot serve (an error, a name it
 * cannot resolve), it builds the prelude itself and compiles against it, so that what the
 * user gets is what a compile against the prelude gives. docs/performance.md has the
 * measurements. */
#define _GNU_SOURCE
#include "cache.h"
#include "cache_evict.h"
#include "clang_compiler.h"
#include "compile_job.h"
#include "compiler_process.h"
#include "kernel_types.h"
#include "prelude_status.h"
#include "util.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A background build of the prelude that takes longer than this has hung: it ends, and a
 * later run builds the prelude again. */
#define BACKGROUND_TIMEOUT_SECONDS 600

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

/* The cache's directory for this kernel (vmlinux.h, the lock of the prelude's builders). */
static int make_kernel_dir(struct compile_job *job)
{
	struct stat st;
	if (mkdir(job->kernel_dir, 0700) < 0 && errno != EEXIST) {
		reply_text(job, REPLY_ERROR, "cannot write %s: %s", job->kernel_dir, strerror(errno));
		return -1;
	}
	if (lstat(job->kernel_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		reply_text(job, REPLY_ERROR, "cannot use %s: it is not a directory", job->kernel_dir);
		return -1;
	}
	return 0;
}

/* The lock that one builder of this kernel's prelude holds at a time (flock, so it goes with
 * its holder's death): its descriptor; -1 when someone else holds it and wait is unset; -2
 * when there is no lock to take (a file system without flock), and builders go ahead
 * without one. */
static int lock_prelude(struct compile_job *job, int wait)
{
	char *path = str_printf("%s/prelude.lock", job->kernel_dir);
	int fd = path ? open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600) : -1;
	free(path);
	if (fd < 0)
		return -2;
	int rc;
	while ((rc = flock(fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		int held = errno == EWOULDBLOCK;
		close(fd);
		return held ? -1 : -2;
	}
	return fd;
}

/* The background builder records its process group (its pid, as the leader of a session of
 * its own) in the lock file, for those who wait for it; a foreground builder empties it. */
static void lock_prelude_record_builder(int lock, pid_t group)
{
	if (lock < 0 || ftruncate(lock, 0) < 0)
		return;
	if (group > 0)
		dprintf(lock, "%d\n", (int)group);
}

/* Before waiting for a builder: lends it this process's priority. The background builder
 * runs at nice 19 so that nobody waits for it, but a compile the trimmed header could not
 * serve does wait, and on a busy machine a nice-19 build may hardly run at all. */
static void lend_priority_to_builder(const struct compile_job *job)
{
	char *path = str_printf("%s/prelude.lock", job->kernel_dir);
	size_t len = 0;
	char *text = path ? file_read(path, &len) : NULL;
	free(path);
	int group = text ? atoi(text) : 0;
	free(text);
	errno = 0;
	int ours = getpriority(PRIO_PROCESS, 0);
	if (group <= 0 || errno)
		return;
	errno = 0;
	int theirs = getpriority(PRIO_PGRP, (id_t)group);
	if (!errno && theirs > ours && setpriority(PRIO_PGRP, (id_t)group, ours) < 0) {
		/* not ours to renice (not root): the wait is only longer */
	}
}

/* 1 when the prelude PCH is there with the files it was built from that the cache holds: a
 * PCH whose vmlinux.h or main file went (evicted, removed by hand) cannot be used, and is
 * built again. */
static int prelude_ready(const struct compile_job *job)
{
	return cache_is_regular(job->pch) && cache_is_regular(job->prelude_main) &&
	       cache_is_regular(job->vmlinux);
}

/* After a PCH was put in place: its failure stamps go, the kernel's directory names it, what
 * was written counts toward the cache's bound (the running kernel's prelude never goes), and
 * the files of other kernels that nothing used since boot go. */
static void prelude_installed(struct compile_job *job, int wrote_vmlinux)
{
	prelude_status_built(job);
	cache_kernel_add_prelude(job->kernel_dir, job->pch);
	const char *const stored[] = {job->pch, job->prelude_main,
				      wrote_vmlinux ? job->vmlinux : NULL, NULL};
	const char *const keep[] = {job->pch, job->prelude_main, job->kernel_dir, NULL};
	cache_stored(stored, keep);
	cache_remove_stale_kernels(job->kernel_dir);
}

/* Builds the prelude PCH for this kernel, compiler and header set (and vmlinux.h when it is
 * missing). Its temporaries go in this process's work directory, which the host removes
 * should this process die. */
static int build_pch(struct compile_job *job, bpflua_clang_run_fn clang)
{
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
	if (make_kernel_dir(job) < 0)
		goto out;
	int wrote_vmlinux = !cache_is_regular(job->vmlinux);
	if (wrote_vmlinux && kernel_types_write_vmlinux_h(job->vmlinux, tmp_vmlinux, &error) < 0) {
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
		prelude_installed(job, wrote_vmlinux);
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

/* The prelude PCH, built when missing. A builder that is at it already (another compile's,
 * or one in the background) is waited for rather than raced. */
static int ensure_pch(struct compile_job *job, bpflua_clang_run_fn clang)
{
	if (prelude_ready(job))
		return 0;
	if (make_kernel_dir(job) < 0)
		return -1;
	int lock = lock_prelude(job, 0);
	if (lock == -1) {
		lend_priority_to_builder(job);
		lock = lock_prelude(job, 1);
	}
	lock_prelude_record_builder(lock, 0);
	int rc = prelude_ready(job) ? 0 : build_pch(job, clang);
	if (lock >= 0)
		close(lock);
	return rc;
}

/* What a failed build said in its records, one line each. */
static char *build_errors(int log)
{
	struct compiler_process_output out = {0};
	if (lseek(log, 0, SEEK_SET) < 0 || !(out.records = file_read_fd(log, &out.len)))
		return NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	size_t pos = 0, n;
	const char *data;
	char tag;
	while (f && record_next(&out, &pos, &tag, &data, &n) == 0) {
		if (tag == REPLY_ERROR) {
			fprintf(f, "%.*s\n", (int)n, data);
		} else if (tag == REPLY_DIAGNOSTIC) {
			/* level NUL file NUL line NUL col NUL message */
			const char *field[5], *p = data, *end = data + n;
			int k = 0;
			for (; k < 5 && p <= end; k++) {
				field[k] = p;
				const char *nul = memchr(p, '\0', (size_t)(end - p));
				p = nul ? nul + 1 : end + 1;
			}
			if (k == 5)
				fprintf(f, "%s:%s:%s: %s: %.*s\n", field[1], field[2], field[3], field[0],
					(int)(end - field[4]), field[4]);
		}
	}
	if (f)
		fclose(f);
	free(out.records);
	return text;
}

/* The background build itself runs in a child of the background process, which records
 * how it ended (prelude_status.h): an error, a crash, or the time-out. */
static void build_pch_recorded(struct compile_job *job, bpflua_clang_run_fn clang)
{
	int log = memfd_create("bpflua-prelude-build", MFD_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0) {
		job->reply = log; /* -1 without a memfd: the error is not kept then */
		alarm(BACKGROUND_TIMEOUT_SECONDS);
		_exit(build_pch(job, clang) == 0 ? 0 : 1);
	}
	int status = 0;
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	char *error = NULL;
	if (pid < 0)
		error = str_printf("cannot start the build: %s", strerror(errno));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
		error = str_printf("the build took longer than %d s and was stopped",
				   BACKGROUND_TIMEOUT_SECONDS);
	else if (WIFSIGNALED(status))
		error = str_printf("the build was killed by signal %d (%s)", WTERMSIG(status),
				   strsignal(WTERMSIG(status)));
	else if (WEXITSTATUS(status) != 0)
		error = log >= 0 ? build_errors(log) : NULL;
	if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		prelude_status_failed(job, error);
	free(error);
	if (log >= 0)
		close(log);
}

/* Builds the prelude for the runs after this one in a process of its own, so that nobody
 * waits for it: this process is about to exit, and the host is using the object already.
 * It takes the lock here, before this process answers, so whoever looks for a builder after
 * that (the next compile, a spec) finds it; it leaves the host's session and descriptors
 * (the host's BPF objects among them, its pipes to whoever reads its output) behind, and
 * gives way to the work it was started for (nice 19). How the build ends is recorded, and a
 * build that failed within the hour is not started again (prelude_status.h). */
static void build_pch_in_background(struct compile_job *job, bpflua_clang_run_fn clang)
{
	if (cache_dir_is_private() || make_kernel_dir(job) < 0)
		return;
	int lock = lock_prelude(job, 0);
	if (lock == -1)
		return; /* another process is building it */
	if (prelude_status_recently_failed(job)) {
		if (lock >= 0)
			close(lock);
		return; /* it failed a moment ago: the next try comes later */
	}
	pid_t pid = fork();
	if (pid != 0) {
		if (lock >= 0)
			close(lock);
		return;
	}
	setsid();
	lock_prelude_record_builder(lock, getpid());
	if (lock >= 0 && lock < 3)
		lock = fcntl(lock, F_DUPFD_CLOEXEC, 3);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	for (int fd = 0; fd < 3 && null >= 0; fd++)
		dup2(null, fd);
	if (lock < 0)
		lock = 2; /* none to keep */
	if ((lock > 3 && close_range(3, (unsigned)lock - 1, 0) < 0) ||
	    close_range((unsigned)lock + 1, ~0u, 0) < 0)
		for (int fd = 3; fd < 4096; fd++) /* no close_range before Linux 5.9 */
			if (fd != lock)
				close(fd);
	job->reply = -1; /* no one reads records any more */
	if (setpriority(PRIO_PROCESS, 0, 19) < 0) {
		/* runs at the same priority then */
	}
	if (!prelude_ready(job))
		build_pch_recorded(job, clang);
	_exit(0);
}

/* The compiler's arguments for the unit: the job's, what the prelude comes from (a PCH, or its
 * headers over a trimmed vmlinux.h), then the user's flags (-D and -U are in the unit). */
static const char **unit_args(struct compile_job *job, const char *const *prelude, int nprelude,
			      int *n)
{
	const char **args = calloc((size_t)job->nargs + (size_t)nprelude + (size_t)job->opts->ncflags,
				   sizeof(char *));
	if (!args)
		return NULL;
	*n = 0;
	for (int i = 0; i < job->nargs; i++)
		args[(*n)++] = job->args[i];
	for (int i = 0; i < nprelude; i++)
		args[(*n)++] = prelude[i];
	for (int i = 0; i < job->opts->ncflags; i++) {
		const char *f = job->opts->cflags[i];
		if (strncmp(f, "-D", 2) != 0 && strncmp(f, "-U", 2) != 0)
			args[(*n)++] = f;
	}
	return args;
}

/* Compiles the unit; the result is the caller's to send and free. */
static int compile_unit(struct compile_job *job, bpflua_clang_run_fn clang,
			const char *const *prelude, int nprelude, struct bpflua_clang_result *res)
{
	int n;
	const char **args = unit_args(job, prelude, nprelude, &n);
	if (!args) {
		memset(res, 0, sizeof(*res));
		return -1;
	}
	struct bpflua_clang_request req = {
		.source = job->unit,
		.source_len = job->unit_len,
		.source_name = "/bpflua/unit.c",
		.args = args,
		.nargs = n,
	};
	int rc = clang(&req, res);
	free(args);
	return rc;
}

/* Sends a compile's diagnostics (only errors, unless debugging), and when it succeeded its
 * dependencies (but those under skip: files of this process's own), metadata and object. */
static void reply_compiled(struct compile_job *job, int rc, struct bpflua_clang_result *res,
			   const char *skip)
{
	reply_diagnostics(job, res, rc != 0 || !job->opts->debug);
	if (rc != 0)
		return;
	int kept = 0;
	for (int i = 0; i < res->ndependencies; i++) {
		if (skip && !strncmp(res->dependencies[i], skip, strlen(skip)))
			free(res->dependencies[i]);
		else
			res->dependencies[kept++] = res->dependencies[i];
	}
	res->ndependencies = kept;
	reply_dependencies(job, res);
	const char *metadata = res->metadata ? res->metadata : "";
	record_write(job->reply, REPLY_METADATA, metadata, strlen(metadata));
	record_write(job->reply, REPLY_OBJECT, res->object, res->object_len);
}

/* 1 when names (one a line) has name. */
static int name_listed(const char *names, const char *name, size_t len)
{
	for (const char *line = names; *line;) {
		const char *nl = strchrnul(line, '\n');
		if ((size_t)(nl - line) == len && !memcmp(line, name, len))
			return 1;
		line = *nl ? nl + 1 : nl;
	}
	return 0;
}

/* Adds to *names the struct, union and enum tags that error diagnostics quote ('struct
 * dentry': a member access through a pointer to a type the program never names). Returns
 * how many it added. */
static int add_quoted_tags(char **names, const struct bpflua_clang_result *res)
{
	int added = 0;
	for (int i = 0; i < res->ndiagnostics; i++) {
		const char *m = res->diagnostics[i].message;
		if (strcmp(res->diagnostics[i].level, "error") != 0 || !m)
			continue;
		for (const char *q = strchr(m, '\''); q; q = strchr(q + 1, '\'')) {
			const char *tag = q + 1;
			size_t kw = !strncmp(tag, "struct ", 7) ? 7 : !strncmp(tag, "union ", 6) ? 6
				  : !strncmp(tag, "enum ", 5)  ? 5 : 0;
			size_t len = kw ? strspn(tag + kw, "abcdefghijklmnopqrstuvwxyz"
							   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") : 0;
			if (!len || name_listed(*names, tag + kw, len))
				continue;
			char *more = str_printf("%s%.*s\n", *names, (int)len, tag + kw);
			if (!more)
				return added;
			free(*names);
			*names = more;
			added++;
		}
	}
	return added;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Rounds of a trimmed compile: the names the unit uses, then those its errors quote. */
#define TRIMMED_ROUNDS 3

/* The first compile on a kernel whose prelude is not built yet: against a vmlinux.h trimmed
 * to the kernel types the unit names (kernel_types_trimmed.c) and the prelude's headers, in
 * a fraction of the time the prelude takes to build. Returns 0 when it sent an object; -1
 * when it sent nothing but its stage, and the caller compiles against the full prelude,
 * whose errors (or object) are the only ones the user sees: what a trimmed compile cannot
 * resolve, or a program with an error, is compiled as any later run would compile it. */
static int compile_trimmed(struct compile_job *job, bpflua_clang_run_fn clang)
{
	reply_text(job, REPLY_STAGE, "compiling %s against its kernel types",
		   job->opts->source_name);
	int debug = job->opts->debug;
	char *work = cache_work_dir(getpid());
	char *dir = str_printf("%s/trimmed", work ? work : "");
	char *header = str_printf("%s/vmlinux.h", dir ? dir : "");
	char *include_dir = str_printf("-I%s", dir ? dir : "");
	char *names = NULL, *error = NULL;
	int ret = -1;
	if (!work || !dir || !header || !include_dir)
		goto out;
	if ((mkdir(work, 0700) < 0 && errno != EEXIST) || mkdir(dir, 0700) < 0 ||
	    file_write_atomic(header, "", 0) != 0)
		goto out;
	const char *prelude[] = {include_dir, "-include", "bpflua/prelude.h"};
	int n;
	const char **args = unit_args(job, prelude, 3, &n);
	if (!args)
		goto out;
	struct bpflua_clang_request list = {
		.source = job->unit, .source_len = job->unit_len, .source_name = "/bpflua/unit.c",
		.args = args, .nargs = n, .list_identifiers = 1};
	struct bpflua_clang_result res;
	double start = now_ms();
	int rc = clang(&list, &res);
	double listed = now_ms(), writing = 0, compiling = 0;
	free(args);
	if (rc == 0 && !res.vmlinux_h_named && res.metadata)
		names = strdup(res.metadata);
	else if (debug)
		fprintf(stderr, "bpflua: %s: compiling against the full prelude\n",
			rc ? "the unit does not preprocess" : "the unit names vmlinux.h");
	bpflua_clang_result_free(&res);
	for (int round = 0; names && ret < 0; round++) {
		size_t types = 0;
		double at = now_ms();
		int written = kernel_types_write_trimmed(header, names, &types, &error);
		writing += now_ms() - at;
		if (written <= 0) {
			if (debug)
				fprintf(stderr, "bpflua: %s; compiling against the full prelude\n",
					written < 0 ? error : "the program names an enumerator whose "
							      "name the kernel uses twice");
			break;
		}
		at = now_ms();
		rc = compile_unit(job, clang, prelude, 3, &res);
		compiling += now_ms() - at;
		int retry = rc != 0 && round + 1 < TRIMMED_ROUNDS && add_quoted_tags(&names, &res) > 0;
		if (rc == 0) {
			struct stat st;
			if (debug && stat(header, &st) == 0)
				fprintf(stderr, "bpflua: no prelude for this kernel yet: compiled "
						"against %zu kernel types the program names (%d "
						"round%s; preprocessing %.0f ms, their vmlinux.h of %lld "
						"KB %.0f ms, compiling %.0f ms)\n",
					types, round + 1, round ? "s" : "", listed - start,
					(long long)st.st_size / 1024, writing, compiling);
			reply_compiled(job, rc, &res, work);
			ret = 0;
		}
		bpflua_clang_result_free(&res);
		if (rc != 0 && !retry) {
			if (debug)
				fprintf(stderr, "bpflua: the trimmed kernel types did not compile; "
						"compiling against the full prelude\n");
			break;
		}
	}
out:
	/* By name, not through remove_tree alone: on an overlay file system a file may sit on
	 * another device than its directory, and remove_tree stays on one device. */
	if (header)
		unlink(header);
	if (dir)
		rmdir(dir);
	free(names);
	free(error);
	free(include_dir);
	free(header);
	free(dir);
	if (work)
		remove_tree(work);
	free(work);
	return ret;
}

struct trimmed_job {
	struct compile_job *job;
	bpflua_clang_run_fn clang;
};

/* A process's whole job when it compiles against a trimmed vmlinux.h: after sending the
 * object, it starts the prelude's build. */
static int trimmed_job_run(void *arg, int reply)
{
	struct trimmed_job *trimmed = arg;
	trimmed->job->reply = reply;
	if (compile_trimmed(trimmed->job, trimmed->clang) < 0)
		return -1;
	build_pch_in_background(trimmed->job, trimmed->clang);
	return 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

/* 1 when the records hold an object. */
static int sent_object(const struct compiler_process_output *out)
{
	size_t pos = 0, len;
	const char *data;
	char tag;
	while (record_next(out, &pos, &tag, &data, &len) == 0)
		if (tag == REPLY_OBJECT)
			return 1;
	return 0;
}

/* The trimmed compile runs in a process of its own, forked as the host forks this one
 * (compiler_process_run): what its compiles leave in LLVM, or a crash, stays there, and the
 * compile against the full prelude that follows when it sends no object starts afresh, as
 * every compile does. Its records are passed on when it sent an object; its stderr (the
 * debug output) is passed on in any case. Returns 0 when an object was passed on. */
static int compile_trimmed_apart(struct compile_job *job, bpflua_clang_run_fn clang, int reply)
{
	struct trimmed_job trimmed = {job, clang};
	struct compiler_process_output out;
	pid_t pid;
	char *failure = NULL;
	int rc = compiler_process_run(trimmed_job_run, &trimmed, &out, &pid, &failure);
	job->reply = reply;
	if (pid > 0 && rc != 0)
		cache_remove_work_dir(pid);
	int sent = rc == 0 && sent_object(&out) && write_all(reply, out.records, out.len) == 0;
	free(failure);
	free(out.records);
	return sent ? 0 : -1;
}

/* The child's whole job: returns 0 when it sent an object. With no prelude built for this
 * kernel it compiles against a trimmed vmlinux.h first, and leaves building the prelude to
 * the background; bpflua --prepare (job->full_prelude) builds it first. */
int compile_job_run(void *arg, int reply)
{
	struct compile_job *job = arg;
	job->reply = reply;
	bpflua_clang_run_fn clang = load_clang(job);
	if (!clang)
		return -1;
	if (!job->full_prelude && !prelude_ready(job) &&
	    compile_trimmed_apart(job, clang, reply) == 0)
		return 0;
	if (ensure_pch(job, clang) < 0)
		return -1;
	cache_mark_used(job->pch); /* the cache's bound keeps the preludes in use */
	const char *prelude[] = {"-include-pch", job->pch};
	reply_text(job, REPLY_STAGE, "compiling %s", job->opts->source_name);
	struct bpflua_clang_result res;
	int rc = compile_unit(job, clang, prelude, 2, &res);
	reply_compiled(job, rc, &res, NULL);
	bpflua_clang_result_free(&res);
	return rc;
}
