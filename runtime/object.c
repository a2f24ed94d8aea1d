/* Loading a compiled object into the kernel and attaching its conventional probes.
 *
 * libbpf does the work; this unit turns its failures into messages a person can act on (the
 * rejected program and the tail of its verifier log, the missing privilege) and makes sure a
 * failure part way leaves nothing loaded or attached. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "libbpf_log.h"
#include "util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

#define VERIFIER_LOG_TAIL_LINES 40

#include "links.h"
#include "object.h"
#include "map_sharing.h"
#include "verifier_hint.h"

/* ---- Privileges ------------------------------------------------------------------------ */

int bpflua_kernel_has_kprobes(void)
{
	if (access("/sys/bus/event_source/devices/kprobe", F_OK) == 0)
		return 1;
	const char *root = bpflua_tracefs_dir();
	char *path = root ? str_printf("%s/kprobe_events", root) : NULL;
	int found = path && access(path, F_OK) == 0;
	free(path);
	return found;
}

static const char no_privileges[] =
	"bpflua needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to load BPF programs; "
	"run it as root";

int bpflua_check_privileges(char **error)
{
	struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{0}};
	if (syscall(SYS_capget, &header, data) < 0)
		return 0; /* cannot tell: let the kernel decide and report EPERM */
	uint64_t effective = (uint64_t)data[1].effective << 32 | data[0].effective;
	int has_admin = !!(effective & (1ull << CAP_SYS_ADMIN));
	int has_bpf = !!(effective & (1ull << CAP_BPF)) && !!(effective & (1ull << CAP_PERFMON));
	if (has_admin || has_bpf)
		return 0;
	*error = strdup(no_privileges);
	return -1;
}

/* ---- Loading --------------------------------------------------------------------------- */

/* The last lines of a verifier log. */
static const char *log_tail(const char *log, int lines)
{
	const char *end = log + strlen(log);
	while (end > log && end[-1] == '\n')
		end--;
	const char *p = end;
	while (p > log && lines > 0) {
		p--;
		if (*p == '\n')
			lines--;
	}
	return p == log ? p : p + 1;
}

/* The program types a kernel may refuse while it loads others: tracing (fentry, fexit,
 * fmod_ret) needs BPF trampolines, LSM programs need the bpf LSM. */
static const char *kernel_refuses(struct bpf_program *prog)
{
	switch (bpf_program__type(prog)) {
	case BPF_PROG_TYPE_TRACING:
		switch (bpf_program__expected_attach_type(prog)) {
		case BPF_TRACE_FENTRY: return "fentry (KFUNC_PROBE)";
		case BPF_TRACE_FEXIT: return "fexit (KRETFUNC_PROBE)";
		case BPF_MODIFY_RETURN: return "fmod_ret (KMOD_RET)";
		default: return NULL;
		}
	case BPF_PROG_TYPE_LSM: return "LSM (LSM_PROBE)";
	default: return NULL;
	}
}

static const char *kernel_refusal_reason(struct bpf_program *prog)
{
	if (bpf_program__type(prog) == BPF_PROG_TYPE_LSM)
		return "it needs CONFIG_BPF_LSM and \"bpf\" among the active LSMs "
		       "(/sys/kernel/security/lsm, boot with lsm=...,bpf); BPF.support_lsm() tells";
	return "they need BPF trampolines (a kernel with CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS "
	       "and a JIT that has them, not locked down); BPF.support_kfunc() tells";
}

char *explain_load_failure(struct bpf_object *obj, int err, const char *libbpf_said)
{
	/* libbpf closes every program when one fails, so the one that failed is known only
	 * from what libbpf said: "prog 'NAME': BPF program load failed: ...". */
	char name[128] = "";
	const char *said = libbpf_said ? libbpf_said : "";
	for (const char *p = strstr(said, "prog '"); p && !name[0]; p = strstr(p + 1, "prog '")) {
		const char *start = p + 6, *end = strchr(start, '\'');
		if (end && (size_t)(end - start) < sizeof(name) &&
		    (!strncmp(end, "': BPF program load failed", 26) ||
		     !strncmp(end, "': failed to load", 17)))
			snprintf(name, sizeof(name), "%.*s", (int)(end - start), start);
	}
	struct bpf_program *prog = name[0] ? bpf_object__find_program_by_name(obj, name) : NULL;
	size_t log_size = 0;
	const char *log = prog ? bpf_program__log_buf(prog, &log_size) : NULL;
	if (name[0] && log && *log) {
		const char *tail = log_tail(log, VERIFIER_LOG_TAIL_LINES);
		char *hint = verifier_hint(log);
		char *message = str_printf("the BPF verifier rejected program '%s' (%s):\n%s%s%s%s",
					   name, strerror(-err), tail == log ? "" : "...\n", tail,
					   hint ? "\n" : "", hint ? hint : "");
		free(hint);
		return message;
	}
	if (err == -EPERM && prog) {
		const char *kind = kernel_refuses(prog);
		if (kind)
			return str_printf("cannot load program '%s': this kernel refuses %s programs "
					  "(EPERM before the verifier ran, with the privileges to load "
					  "BPF): %s", name, kind, kernel_refusal_reason(prog));
	}
	if (err == -EPERM)
		return strdup(no_privileges); /* refused before the verifier said anything */
	if (name[0])
		return str_printf("cannot load program '%s': %s\n%s", name, strerror(-err), said);
	return str_printf("cannot load the BPF object: %s\n%s", strerror(-err), said);
}

/* The probe a conventional name asks for: "kprobe__vfs_read" -> kprobe on vfs_read. */
static const char *kprobe_target(const char *name, int *retprobe)
{
	*retprobe = !strncmp(name, "kretprobe__", 11);
	if (*retprobe)
		return name + 11;
	return !strncmp(name, "kprobe__", 8) ? name + 8 : NULL;
}

/* Chooses, before load, which programs load now: TRACEPOINT_PROBE and RAW_TRACEPOINT_PROBE
 * (their sections say so), and functions named kprobe__X / kretprobe__X. Every other
 * function waits in its "bpflua/NAME" section for an attach_* call. */
static int choose_conventional(struct bpflua_object *o, char **error)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, o->obj) {
		const char *sec = bpf_program__section_name(prog);
		if (strncmp(sec, BPFLUA_FUNCTION_SECTION, strlen(BPFLUA_FUNCTION_SECTION)) != 0 &&
		    strcmp(sec, ".text") != 0)
			continue;
		int retprobe;
		const char *target = kprobe_target(bpf_program__name(prog), &retprobe);
		if (!target) {
			bpf_program__set_autoload(prog, false);
			continue;
		}
		if (!bpflua_kernel_has_kprobes()) {
			*error = str_printf("cannot attach %s to %s: %s", bpf_program__name(prog),
					    target, BPFLUA_NO_KPROBES);
			return -EOPNOTSUPP;
		}
		bpf_program__set_type(prog, BPF_PROG_TYPE_KPROBE);
	}
	return 0;
}

static int attach_conventional(struct bpflua_object *o, char **error)
{
	struct bpf_program *prog;
	int count = 0;
	bpf_object__for_each_program(prog, o->obj)
		count++;
	o->links = calloc((size_t)count + 1, sizeof(struct bpf_link *));
	if (!o->links)
		return -ENOMEM;
	bpf_object__for_each_program(prog, o->obj) {
		if (!bpf_program__autoload(prog))
			continue;
		const char *name = bpf_program__name(prog);
		int retprobe;
		const char *target = kprobe_target(name, &retprobe);
		struct bpf_link *link = target ? bpf_program__attach_kprobe(prog, retprobe, target)
					       : bpf_program__attach(prog);
		if (!link) {
			int err = -errno;
			*error = str_printf("cannot attach program '%s' (%s): %s", name,
					    bpf_program__section_name(prog), strerror(-err));
			if (!strncmp(bpf_program__section_name(prog), "tracepoint/", 11)) {
				const char *cat = bpf_program__section_name(prog) + 11;
				const char *slash = strchr(cat, '/');
				free(*error);
				*error = str_printf(
					"cannot attach program '%s' to tracepoint %.*s:%s: %s", name,
					slash ? (int)(slash - cat) : 0, cat, slash ? slash + 1 : cat,
					strerror(-err));
			}
			return err;
		}
		o->links[o->nlinks++] = link;
	}
	return 0;
}

void free_logs(char **logs, int n)
{
	for (int i = 0; logs && i < n; i++)
		free(logs[i]);
	free(logs);
}

/* Keeps a copy of the ELF (each attach_* of a function loads it again as a program of its
 * own) and opens it with libbpf. */
static int open_object(struct bpflua_object *o, const char *object, size_t object_len,
		       const char *name, int debug, struct libbpf_log *log, char **error)
{
	o->elf = malloc(object_len);
	if (!o->elf)
		return -ENOMEM;
	memcpy(o->elf, object, object_len);
	o->elf_len = object_len;
	o->owner = getpid();
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = name,
		    .kernel_log_level = debug ? 1 : 0);
	o->obj = bpf_object__open_mem(object, object_len, &open_opts);
	if (!o->obj) {
		int err = -errno;
		*error = str_printf("cannot open the compiled BPF object: %s\n%s", strerror(-err),
				    libbpf_log_text(log));
		return err;
	}
	return 0;
}

/* A verifier log buffer per program, so that a rejection can be explained: large, but calloc
 * maps it lazily, so only what the verifier writes costs memory. NULL when out of memory. */
static char **give_log_buffers(struct bpf_object *obj, int debug, int *nlogs)
{
	struct bpf_program *prog;
	*nlogs = 0;
	bpf_object__for_each_program(prog, obj)
		(*nlogs)++;
	char **logs = calloc((size_t)*nlogs + 1, sizeof(*logs));
	int i = 0;
	bpf_object__for_each_program(prog, obj) {
		if (!logs || !(logs[i] = calloc(1, VERIFIER_LOG_SIZE))) {
			free_logs(logs, *nlogs);
			return NULL;
		}
		bpf_program__set_log_buf(prog, logs[i++], VERIFIER_LOG_SIZE);
		if (debug)
			bpf_program__set_log_level(prog, 2); /* every instruction, as bcc's DEBUG_BPF */
	}
	return logs;
}

/* libbpf must not keep pointers to the buffers once they are freed. */
static void take_log_buffers(struct bpf_object *obj, char **logs, int nlogs)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj)
		bpf_program__set_log_buf(prog, NULL, 0);
	free_logs(logs, nlogs);
}

/* BPF.debug: what the verifier said about each program that loaded. */
static void print_verifier_logs(struct bpf_object *obj)
{
	struct bpf_program *prog;
	bpf_object__for_each_program(prog, obj) {
		size_t size = 0;
		const char *prog_log = bpf_program__log_buf(prog, &size);
		if (bpf_program__autoload(prog) && prog_log)
			fprintf(stderr, "bpflua: verifier log of '%s':\n%s\n",
				bpf_program__name(prog), prog_log);
	}
}

/* Loads the conventional programs (the others wait for attach_*), with their verifier logs
 * at hand to explain a rejection. */
static int load_object(struct bpflua_object *o, int debug, struct libbpf_log *log,
		       char **error)
{
	int err = choose_conventional(o, error);
	if (err)
		return err;
	int nlogs;
	char **logs = give_log_buffers(o->obj, debug, &nlogs);
	if (!logs)
		return -ENOMEM;
	err = bpf_object__load(o->obj);
	if (err)
		*error = explain_load_failure(o->obj, err, libbpf_log_text(log));
	else if (debug)
		print_verifier_logs(o->obj);
	take_log_buffers(o->obj, logs, nlogs);
	return err;
}

struct bpflua_object *bpflua_object_load_and_attach(const char *object, size_t object_len,
						    const char *name, int debug, char **error)
{
	*error = NULL;
	if (bpflua_check_privileges(error) < 0)
		return NULL;
	struct bpflua_object *o = calloc(1, sizeof(*o));
	if (!o) {
		*error = strdup("out of memory");
		return NULL;
	}
	struct libbpf_log log;
	libbpf_log_begin(&log);
	int err = open_object(o, object, object_len, name, debug, &log, error);
	if (!err)
		err = map_sharing_prepare(o, error); /* pinned and public tables */
	if (!err)
		err = load_object(o, debug, &log, error);
	if (!err)
		map_sharing_publish(o);
	if (!err)
		err = attach_conventional(o, error);
	libbpf_log_end(&log);
	if (err) {
		if (!*error)
			*error = strdup("out of memory");
		bpflua_object_close(o);
		return NULL;
	}
	return o;
}

struct bpf_object *bpflua_object_bpf(struct bpflua_object *o)
{
	return o->obj;
}

int bpflua_object_attached_count(struct bpflua_object *o)
{
	return o->nlinks;
}

void bpflua_object_close(struct bpflua_object *o)
{
	if (!o)
		return;
	links_release(o->links, o->nlinks, o->owner);
	map_sharing_forget(o);
	bpf_object__close(o->obj);
	free(o->elf);
	free(o);
}
