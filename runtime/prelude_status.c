/* The stamps of failed prelude builds (prelude_status.h). */
#define _GNU_SOURCE
#include "prelude_status.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* job->pch with ".pch" replaced by suffix, malloc'd. */
static char *stamp_path(const struct compile_job *job, const char *suffix)
{
	size_t len = strlen(job->pch);
	if (len < 4 || strcmp(job->pch + len - 4, ".pch") != 0)
		return NULL;
	return str_printf("%.*s%s", (int)(len - 4), job->pch, suffix);
}

void prelude_status_failed(const struct compile_job *job, const char *error)
{
	char *path = stamp_path(job, ".failed"), *reported = stamp_path(job, ".failed-reported");
	if (path && reported) {
		char *text = str_printf("%s\n", error && *error ? error : "unknown error");
		if (text && file_write_atomic(path, text, strlen(text)) == 0)
			unlink(reported); /* a new failure: say it again */
		free(text);
	}
	free(path);
	free(reported);
}

void prelude_status_built(const struct compile_job *job)
{
	char *path = stamp_path(job, ".failed"), *reported = stamp_path(job, ".failed-reported");
	if (path)
		unlink(path);
	if (reported)
		unlink(reported);
	free(path);
	free(reported);
}

/* The stamp's text cut to one line: its first, and the line after when the first
 * introduces it ("cannot precompile bpflua's prelude (...):" and the first error). */
static void summarize(char *text)
{
	char *nl = text ? strchr(text, '\n') : NULL;
	if (nl && nl > text && nl[-1] == ':' && nl[1]) {
		*nl = ' ';
		nl = strchr(nl, '\n');
	}
	if (nl)
		*nl = '\0';
	if (text && strlen(text) > 300)
		strcpy(text + 296, "...");
}

static int recent(const char *path)
{
	struct stat st;
	return path && lstat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       time(NULL) - st.st_mtime < PRELUDE_RETRY_SECONDS;
}

int prelude_status_recently_failed(const struct compile_job *job)
{
	char *path = stamp_path(job, ".failed"), *reported = stamp_path(job, ".failed-reported");
	int failed = 0;
	if (recent(path)) {
		failed = 1;
		/* The stamp's first line is the error's; rename keeps its time, so the retry
		 * comes as many minutes after the failure either way. */
		size_t len = 0;
		char *text = file_read(path, &len);
		if (rename(path, reported) == 0) {
			summarize(text);
			fprintf(stderr, "bpflua: warning: the precompiled prelude for this kernel "
					"could not be built (%s), so compiles take a slower path; "
					"`bpflua --prepare` shows why\n",
				text && *text ? text : "no reason recorded");
		}
		free(text);
	} else if (recent(reported)) {
		failed = 1;
	}
	free(path);
	free(reported);
	return failed;
}
