/* The compiler's child process: fork, collect its records, reap it. See compiler_process.h. */
#define _GNU_SOURCE
#include "compiler_process.h"
#include "bpflua.h"
#include "clang_compiler.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_SECONDS 60.0
#define RECORD_END '.' /* the child's last record: it finished what it was asked */
#define RECORD_HEADER 5
#define STDERR_TAIL 2000 /* how much of a failed child's stderr its message quotes */

int record_write(int fd, char tag, const void *data, size_t len)
{
	if (len > UINT32_MAX)
		return -1;
	char header[RECORD_HEADER];
	uint32_t n = (uint32_t)len;
	header[0] = tag;
	memcpy(header + 1, &n, sizeof(n));
	struct iovec part[2] = {{header, sizeof(header)}, {(void *)data, len}};
	int i = 0;
	while (i < 2) {
		ssize_t w = writev(fd, part + i, 2 - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		while (i < 2 && (size_t)w >= part[i].iov_len)
			w -= (ssize_t)part[i++].iov_len;
		if (i < 2) {
			part[i].iov_base = (char *)part[i].iov_base + w;
			part[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

int record_next(const struct compiler_process_output *out, size_t *pos, char *tag,
		const char **data, size_t *len)
{
	if (*pos + RECORD_HEADER > out->len)
		return -1;
	uint32_t n;
	memcpy(&n, out->records + *pos + 1, sizeof(n));
	if (n > out->len - *pos - RECORD_HEADER)
		return -1;
	*tag = out->records[*pos];
	*data = out->records + *pos + RECORD_HEADER;
	*len = n;
	*pos += RECORD_HEADER + n;
	return 0;
}

static double timeout_seconds(void)
{
	const char *s = getenv("BPFLUA_COMPILE_TIMEOUT");
	char *end = NULL;
	double t = s && *s ? strtod(s, &end) : 0;
	return end && *end == '\0' && t > 0 ? t : DEFAULT_TIMEOUT_SECONDS;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How the specs make the child fail the ways a compiler can, without a compiler bug. */
static void crash_for_test(void)
{
	const char *how = getenv("BPFLUA_COMPILER_CRASH_FOR_TEST");
	if (!how || !*how)
		return;
	if (!strcmp(how, "abort"))
		abort();
	if (!strcmp(how, "segv"))
		raise(SIGSEGV);
	if (!strcmp(how, "hang"))
		for (;;)
			pause();
	if (!strcmp(how, "fatal")) {
		fputs("LLVM ERROR: a fatal error for the test\n", stderr);
		_exit(BPFLUA_CLANG_FATAL_STATUS);
	}
}

static void __attribute__((noreturn))
child_main(int (*fn)(void *arg, int fd), void *arg, int out, int err, pid_t parent)
{
	/* The host's signal handlers (its Ctrl-C flag) are not the child's: Ctrl-C, which the
	 * terminal sends to the whole process group, and the time-out must end it. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* A host that dies (SIGKILL) takes its compile with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (err >= 0)
		dup2(err, STDERR_FILENO);
	crash_for_test();
	int rc = fn(arg, out);
	/* _exit, never exit: the host's atexit handlers and stdio buffers are the host's. The
	 * pipe is closed first: the host need not wait while this process unmaps LLVM. */
	if (record_write(out, RECORD_END, NULL, 0) < 0)
		_exit(126);
	close(out);
	_exit(rc == 0 ? 0 : 1);
}

/* The last part of what the child wrote on stderr, for the message about its failure. */
static char *stderr_tail(int err)
{
	if (err < 0)
		return strdup("");
	off_t end = lseek(err, 0, SEEK_END);
	off_t start = end > STDERR_TAIL ? end - STDERR_TAIL : 0;
	char buf[STDERR_TAIL + 1];
	ssize_t n = end > 0 ? pread(err, buf, (size_t)(end - start), start) : 0;
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n ? str_printf(":\n%s", buf) : strdup("");
}

/* Passes on what a child that succeeded said on stderr (warnings, debug output). */
static void forward_stderr(int err)
{
	char buf[4096];
	ssize_t n;
	off_t at = 0;
	while (err >= 0 && (n = pread(err, buf, sizeof(buf), at)) > 0) {
		fwrite(buf, 1, (size_t)n, stderr);
		at += n;
	}
}

/* Children that had sent all their records and were still exiting when their compile
 * returned: reaped by compiler_process_reap (when the compile's result is freed) or at the
 * next compile, so none is left a zombie for long. */
#define MAX_EXITING 8
static pid_t exiting[MAX_EXITING];
static pthread_mutex_t exiting_lock = PTHREAD_MUTEX_INITIALIZER;

static int remember_exiting(pid_t pid)
{
	int ret = -1;
	pthread_mutex_lock(&exiting_lock);
	for (int i = 0; i < MAX_EXITING && ret < 0; i++)
		if (!exiting[i]) {
			exiting[i] = pid;
			ret = 0;
		}
	pthread_mutex_unlock(&exiting_lock);
	return ret;
}

void compiler_process_reap(void)
{
	pthread_mutex_lock(&exiting_lock);
	for (int i = 0; i < MAX_EXITING; i++) {
		if (!exiting[i])
			continue;
		/* Blocks only for what remains of an exit already under way; ECHILD when the
		 * embedding program reaped it first. */
		while (waitpid(exiting[i], NULL, 0) < 0 && errno == EINTR)
			;
		exiting[i] = 0;
	}
	pthread_mutex_unlock(&exiting_lock);
}

enum stop_reason { RAN, TIMED_OUT, INTERRUPTED };

/* Reads the child's records until it closes the pipe (exits), the time-out or Ctrl-C. */
static enum stop_reason collect(int fd, struct compiler_process_output *out, double timeout,
				int interrupted_before, int *read_failed)
{
	size_t cap = 0;
	double deadline = now_seconds() + timeout;
	for (;;) {
		/* Ctrl-C in the host: its handler sets the flag, and poll returns EINTR. */
		if (!interrupted_before && bpflua_interrupted())
			return INTERRUPTED;
		double left = deadline - now_seconds();
		if (left <= 0)
			return TIMED_OUT;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, left > 0.1 ? 100 : (int)(left * 1000) + 1);
		if (n <= 0)
			continue;
		if (out->len + 65536 > cap) {
			char *bigger = realloc(out->records, cap * 2 + 65536);
			if (!bigger) {
				*read_failed = ENOMEM;
				return RAN;
			}
			out->records = bigger;
			cap = cap * 2 + 65536;
		}
		ssize_t r = read(fd, out->records + out->len, cap - out->len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			*read_failed = errno;
		if (r <= 0)
			return RAN;
		out->len += (size_t)r;
	}
}

/* 1 when the records end with RECORD_END (which is then dropped from them). */
static int finished(struct compiler_process_output *out)
{
	size_t pos = 0, last = (size_t)-1;
	char tag;
	const char *data;
	size_t len;
	while (1) {
		size_t at = pos;
		if (record_next(out, &pos, &tag, &data, &len) < 0)
			break;
		last = at;
	}
	if (last == (size_t)-1 || pos != out->len || out->records[last] != RECORD_END)
		return 0;
	out->len = last;
	return 1;
}

int compiler_process_run(int (*fn)(void *arg, int fd), void *arg,
			 struct compiler_process_output *out, pid_t *pid, char **failure)
{
	memset(out, 0, sizeof(*out));
	*failure = NULL;
	*pid = -1;
	compiler_process_reap();
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		*failure = str_printf("cannot start bpflua's compiler: %s", strerror(errno));
		return -1;
	}
	/* Without a memfd the child's stderr is simply ours. */
	int err = memfd_create("bpflua-compiler-stderr", MFD_CLOEXEC);
	/* What stdio holds unwritten would otherwise be written by the child too, should
	 * anything in it call exit(). */
	fflush(stdout);
	fflush(stderr);
	pid_t parent = getpid();
	/* A flag already set (an earlier Ctrl-C the caller has not cleared) is not this
	 * compile's; one set from here on is, even before the child has started. */
	int interrupted_before = bpflua_interrupted();
	pid_t child = fork();
	if (child == 0) {
		close(pipefd[0]);
		child_main(fn, arg, pipefd[1], err, parent);
	}
	close(pipefd[1]);
	if (child < 0) {
		*failure = str_printf("cannot start bpflua's compiler: %s", strerror(errno));
		close(pipefd[0]);
		if (err >= 0)
			close(err);
		return -1;
	}
	*pid = child;

	double timeout = timeout_seconds();
	int read_failed = 0;
	enum stop_reason stop = collect(pipefd[0], out, timeout, interrupted_before,
					 &read_failed);
	close(pipefd[0]);
	int done = stop == RAN && !read_failed && finished(out);
	int status = 0;
	pid_t waited;
	if (done) {
		/* It has sent everything and is exiting: unmapping LLVM takes it a few
		 * milliseconds, which the caller spends loading the object instead. */
		while ((waited = waitpid(child, &status, WNOHANG)) < 0 && errno == EINTR)
			;
		if (waited == 0 && remember_exiting(child) == 0)
			waited = child; /* its status does not matter any more */
	} else {
		kill(child, SIGKILL);
		waited = 0;
	}
	while (waited == 0 && (waited = waitpid(child, &status, 0)) < 0 && errno == EINTR)
		waited = 0;
	/* An embedding program that reaps every child (or ignores SIGCHLD) takes the status:
	 * then the records alone say whether the child finished. */
	int status_known = waited == child;

	int failed = 1;
	if (stop == INTERRUPTED || (status_known && WIFSIGNALED(status) &&
				    WTERMSIG(status) == SIGINT)) {
		*failure = strdup("bpflua's compiler was interrupted (Ctrl-C)");
	} else if (stop == TIMED_OUT) {
		*failure = str_printf("bpflua's compiler did not finish within %g s and was stopped "
				      "(BPFLUA_COMPILE_TIMEOUT sets the limit in seconds)",
				      timeout);
	} else if (read_failed) {
		*failure = str_printf("cannot read from bpflua's compiler: %s", strerror(read_failed));
	} else if (status_known && WIFSIGNALED(status)) {
		char *tail = stderr_tail(err);
		int sig = WTERMSIG(status);
		const char *name = sigabbrev_np(sig);
		*failure = str_printf("bpflua's compiler crashed (SIG%s: %s); this process is "
				      "unaffected%s",
				      name ? name : "?", strsignal(sig), tail ? tail : "");
		free(tail);
	} else if (!done) {
		char *tail = stderr_tail(err);
		if (status_known && WIFEXITED(status) &&
		    WEXITSTATUS(status) == BPFLUA_CLANG_FATAL_STATUS)
			*failure = str_printf("bpflua's compiler stopped on a fatal error%s",
					      tail ? tail : "");
		else if (status_known && WIFEXITED(status))
			*failure = str_printf("bpflua's compiler exited (status %d) without a "
					      "result%s",
					      WEXITSTATUS(status), tail ? tail : "");
		else
			*failure = str_printf("bpflua's compiler ended without a result%s",
					      tail ? tail : "");
		free(tail);
	} else {
		forward_stderr(err);
		failed = 0;
	}
	if (err >= 0)
		close(err);
	if (failed) {
		if (!*failure)
			*failure = strdup("out of memory");
		return -1;
	}
	return 0;
}
