/* What became of the last build of a prelude PCH, so that a failing background build is not
 * silent: without it every later first compile would take the trimmed path and start the
 * build again, and the user would never learn why the prelude is missing.
 *
 * A failed build leaves a stamp beside where its PCH goes (prelude-<key>.failed) holding the
 * error. The next run that finds the prelude missing says so on stderr, once: it renames the
 * stamp to prelude-<key>.failed-reported first, and only the run whose rename succeeded
 * prints. While the stamp is younger than PRELUDE_RETRY_SECONDS no background build starts;
 * after that, or when the kernel, the compiler, bpflua or its headers change (a new key, so
 * no stamp), the build is tried again. bpflua --prepare always builds in the foreground and
 * shows the error itself; a build that succeeds removes the stamp. */
#ifndef BPFLUA_PRELUDE_STATUS_H
#define BPFLUA_PRELUDE_STATUS_H

#include "compile_job.h"

#define PRELUDE_RETRY_SECONDS 3600

/* The stamp's text for a build that did not end (a crash, a kill, the time-out): written
 * before a background build starts, replaced by its error or removed by its success. */
#define PRELUDE_UNFINISHED "the build did not finish (it crashed, was killed or timed out)"

/* Records that the build of job's prelude failed with error. */
void prelude_status_failed(const struct compile_job *job, const char *error);

/* Forgets a failure of job's prelude (it was built). */
void prelude_status_built(const struct compile_job *job);

/* 1 when a failure of job's prelude is recorded within PRELUDE_RETRY_SECONDS: no build
 * should start in the background now. The first call that finds it unreported prints one
 * line on stderr. */
int prelude_status_recently_failed(const struct compile_job *job);

#endif
