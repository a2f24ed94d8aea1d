/* Attaching a function of the program by name, as bcc's attach_* calls do.
 *
 * libbpf fixes a program's type before load, and a function may be attached as a tracepoint
 * now and a perf event later, so each attachment opens the object's ELF again, loads only
 * that function with the type the attachment needs, gives it the first object's maps
 * (bpf_map__reuse_fd, globals included), and attaches it. Closing the attachment detaches
 * and unloads it. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "libbpf_log.h"
#include "links.h"
#include "object.h"
#include "tracefs.h"
#include "util.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct bpflua_attachment {
	struct bpf_object *obj;
	struct bpf_link **links;
	int nlinks;
	pid_t owner;                /* the process that attached: see links_release */
	struct bpf_program *prog;   /* the loaded function (in obj, or in a loaded function's) */
	int prog_type;
};

/* How a function is loaded: its program type and, for types that need them, the expected
 * attach type and the kernel function or hook it attaches to. */
struct load_as {
	enum bpf_prog_type type;
	int attach_type;            /* -1: the type's default */
	const char *attach_target;  /* NULL: none */
};

static enum bpf_prog_type program_type(int kind)
{
	switch (kind) {
	case BPFLUA_ATTACH_TRACEPOINT: return BPF_PROG_TYPE_TRACEPOINT;
	case BPFLUA_ATTACH_RAW_TRACEPOINT: return BPF_PROG_TYPE_RAW_TRACEPOINT;
	case BPFLUA_ATTACH_PERF_EVENT: return BPF_PROG_TYPE_PERF_EVENT;
	default: return BPF_PROG_TYPE_KPROBE; /* kprobes and uprobes */
	}
}

/* The names of the functions an attach_* call can name, for error messages. */
static char *function_names(struct bpf_object *obj)
{
	char *names = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&names, &len);
	struct bpf_program *prog;
	int n = 0;
	bpf_object__for_each_program(prog, obj) {
		if (!strncmp(bpf_program__section_name(prog), BPFLUA_FUNCTION_SECTION,
			     strlen(BPFLUA_FUNCTION_SECTION)))
			fprintf(out, "%s%s", n++ ? ", " : "", bpf_program__name(prog));
	}
	if (!n)
		fputs("none", out);
	fclose(out);
	return names;
}

/* Opens the ELF again with only fn_name to load, as the given type, on the object's maps. */
static struct bpf_program *open_function(struct bpflua_object *o, struct bpflua_attachment *a,
					 const char *fn_name, const struct load_as *as,
					 struct libbpf_log *log, char **error)
{
	LIBBPF_OPTS(bpf_object_open_opts, open_opts, .object_name = "bpflua");
	a->obj = bpf_object__open_mem(o->elf, o->elf_len, &open_opts);
	if (!a->obj) {
		*error = str_printf("cannot open the program again: %s", strerror(errno));
		return NULL;
	}
	struct bpf_program *target = NULL, *prog;
	bpf_object__for_each_program(prog, a->obj) {
		int is_function = !strncmp(bpf_program__section_name(prog), BPFLUA_FUNCTION_SECTION,
					   strlen(BPFLUA_FUNCTION_SECTION));
		/* A function of a naming convention (kfunc__F, lsm__HOOK) sits in its own
		 * section; load_func may still name it, when no plain function has the name. */
		if (!strcmp(bpf_program__name(prog), fn_name) && (is_function || !target))
			target = prog;
	}
	bpf_object__for_each_program(prog, a->obj)
		if (prog != target)
			bpf_program__set_autoload(prog, false);
	if (!target) {
		char *names = function_names(a->obj);
		*error = str_printf("no function named '%s' to attach (the program's non-static "
				    "functions: %s)", fn_name, names ? names : "none");
		free(names);
		return NULL;
	}
	bpf_program__set_type(target, as->type);
	if (as->attach_type >= 0)
		bpf_program__set_expected_attach_type(target, (enum bpf_attach_type)as->attach_type);
	if (as->attach_target) {
		int err = bpf_program__set_attach_target(target, 0, as->attach_target);
		if (err) {
			*error = str_printf("cannot load '%s' for %s: %s", fn_name, as->attach_target,
					    strerror(-err));
			return NULL;
		}
	}
	struct bpf_map *map;
	bpf_object__for_each_map(map, a->obj) {
		struct bpf_map *shared = bpf_object__find_map_by_name(o->obj, bpf_map__name(map));
		int err = shared ? bpf_map__reuse_fd(map, bpf_map__fd(shared)) : 0;
		if (err) {
			*error = str_printf("cannot share map '%s' with '%s': %s", bpf_map__name(map),
					    fn_name, strerror(-err));
			return NULL;
		}
	}
	char *verifier_log = calloc(1, VERIFIER_LOG_SIZE);
	bpf_program__set_log_buf(target, verifier_log, VERIFIER_LOG_SIZE);
	int err = bpf_object__load(a->obj);
	if (err)
		*error = explain_load_failure(a->obj, err, libbpf_log_text(log));
	bpf_program__set_log_buf(target, NULL, 0);
	free(verifier_log);
	if (err)
		return NULL;
	a->prog = target;
	a->prog_type = as->type;
	return target;
}

static int add_link(struct bpflua_attachment *a, struct bpf_link *link)
{
	struct bpf_link **grown =
		realloc(a->links, sizeof(struct bpf_link *) * (size_t)(a->nlinks + 1));
	if (!grown) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	a->links = grown;
	a->links[a->nlinks++] = link;
	return 0;
}

static int attach_perf_event(struct bpf_program *prog, struct bpflua_attachment *a,
			     const struct bpflua_attach_opts *opts, char **error)
{
	struct perf_event_attr attr = {
		.type = opts->perf_type,
		.size = sizeof(attr),
		.config = opts->perf_config,
	};
	if (opts->sample_freq) {
		attr.freq = 1;
		attr.sample_freq = opts->sample_freq;
	} else {
		attr.sample_period = opts->sample_period ? opts->sample_period : 1;
	}
	int ncpus = libbpf_num_possible_cpus();
	for (int cpu = opts->cpu >= 0 ? opts->cpu : 0;
	     cpu < (opts->cpu >= 0 ? opts->cpu + 1 : ncpus); cpu++) {
		int fd = (int)syscall(SYS_perf_event_open, &attr, opts->pid, cpu, -1,
				      PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV && opts->cpu < 0)
				continue; /* a possible CPU that is offline */
			*error = str_printf("cannot open perf event (type %u, config %llu) on CPU %d: %s",
					    opts->perf_type, opts->perf_config, cpu, strerror(errno));
			return -errno;
		}
		struct bpf_link *link = bpf_program__attach_perf_event(prog, fd);
		if (!link) {
			int err = -errno;
			close(fd);
			*error = str_printf("cannot attach '%s' to a perf event on CPU %d: %s",
					    opts->fn_name, cpu, strerror(-err));
			return err;
		}
		if (add_link(a, link) < 0)
			return -ENOMEM;
	}
	return 0;
}

static struct bpf_link *attach_one(struct bpf_program *prog, const struct bpflua_attach_opts *opts,
				   char **error)
{
	struct bpf_link *link = NULL;
	const char *what = "";
	switch (opts->kind) {
	case BPFLUA_ATTACH_TRACEPOINT: {
		char *category = strdup(opts->target), *event = strchr(category, ':');
		if (event)
			*event++ = '\0';
		if (!event || !*event) {
			*error = str_printf("tracepoint '%s': expected \"category:event\"", opts->target);
		} else if (!bpflua_tracefs_dir()) {
			*error = str_printf("tracepoint %s: %s", opts->target, tracefs_unavailable());
		} else {
			char *path = str_printf("%s/events/%s/%s", bpflua_tracefs_dir(), category, event);
			if (access(path, F_OK) != 0)
				*error = str_printf("tracepoint %s does not exist", opts->target);
			else
				link = bpf_program__attach_tracepoint(prog, category, event);
			free(path);
		}
		free(category);
		what = "tracepoint";
		break;
	}
	case BPFLUA_ATTACH_RAW_TRACEPOINT:
		link = bpf_program__attach_raw_tracepoint(prog, opts->target);
		if (!link && errno == ENOENT)
			*error = str_printf("raw tracepoint %s does not exist", opts->target);
		what = "raw tracepoint";
		break;
	case BPFLUA_ATTACH_UPROBE:
	case BPFLUA_ATTACH_URETPROBE: {
		LIBBPF_OPTS(bpf_uprobe_opts, uprobe_opts, .func_name = opts->sym,
			    .retprobe = opts->kind == BPFLUA_ATTACH_URETPROBE);
		if (access(opts->target, F_OK) != 0) {
			*error = str_printf("cannot attach '%s' to %s: no such file", opts->fn_name,
					    opts->target);
			break;
		}
		link = bpf_program__attach_uprobe_opts(prog, opts->pid, opts->target,
						       (size_t)opts->offset, &uprobe_opts);
		if (!link && errno == ENOENT && opts->sym)
			*error = str_printf("no symbol '%s' in %s", opts->sym, opts->target);
		what = opts->kind == BPFLUA_ATTACH_URETPROBE ? "uretprobe" : "uprobe";
		break;
	}
	case BPFLUA_ATTACH_KPROBE:
	case BPFLUA_ATTACH_KRETPROBE:
		link = bpf_program__attach_kprobe(prog, opts->kind == BPFLUA_ATTACH_KRETPROBE,
						  opts->target);
		what = "kprobe";
		break;
	}
	if (!link && !*error) {
		/* libbpf's own codes (above 4000: "not an ELF file" and friends) have text only
		 * in libbpf_strerror. */
		int err = errno;
		char text[128];
		if (libbpf_strerror(err, text, sizeof(text)) != 0)
			snprintf(text, sizeof(text), "%s", strerror(err));
		*error = str_printf("cannot attach '%s' to %s %s: %s", opts->fn_name, what,
				    opts->target, text);
	}
	return link;
}

/* A USDT probe's locations: one link each, with the location's semaphore (the kernel counts
 * it up while attached and down at detach) and its cookie (which argument spec to read). */
static int attach_uprobe_locations(struct bpf_program *prog, struct bpflua_attachment *a,
				   const struct bpflua_attach_opts *opts, char **error)
{
	for (int i = 0; i < opts->nlocations; i++) {
		const struct bpflua_uprobe_location *loc = &opts->locations[i];
		LIBBPF_OPTS(bpf_uprobe_opts, uprobe_opts, .ref_ctr_offset = loc->ref_ctr_offset,
			    .bpf_cookie = loc->cookie,
			    .retprobe = opts->kind == BPFLUA_ATTACH_URETPROBE);
		struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, opts->pid, opts->target,
									(size_t)loc->offset,
									&uprobe_opts);
		if (!link) {
			*error = str_printf("cannot attach '%s' to %s at offset 0x%llx: %s",
					    opts->fn_name, opts->target, loc->offset, strerror(errno));
			return -1;
		}
		if (add_link(a, link) < 0)
			return -ENOMEM;
	}
	return 0;
}

struct bpflua_attachment *bpflua_attach(struct bpflua_object *o,
					const struct bpflua_attach_opts *opts, char **error)
{
	*error = NULL;
	if ((opts->kind == BPFLUA_ATTACH_KPROBE || opts->kind == BPFLUA_ATTACH_KRETPROBE) &&
	    !bpflua_kernel_has_kprobes()) {
		*error = str_printf("cannot attach '%s' to %s %s: %s", opts->fn_name,
				    opts->kind == BPFLUA_ATTACH_KPROBE ? "kprobe" : "kretprobe",
				    opts->target, BPFLUA_NO_KPROBES);
		return NULL;
	}
	struct bpflua_attachment *a = calloc(1, sizeof(*a));
	if (!a) {
		*error = strdup("out of memory");
		return NULL;
	}
	a->owner = getpid();
	struct libbpf_log log;
	libbpf_log_begin(&log);
	struct bpf_program *prog;
	if (opts->loaded) {
		/* A function load_func loaded: attach it as it is, if its type fits. */
		prog = opts->loaded->prog;
		if (opts->loaded->prog_type != (int)program_type(opts->kind)) {
			*error = str_printf("'%s' was loaded as %s; this attach needs %s",
					    bpf_program__name(prog),
					    libbpf_bpf_prog_type_str(opts->loaded->prog_type),
					    libbpf_bpf_prog_type_str(program_type(opts->kind)));
			prog = NULL;
		}
	} else {
		struct load_as as = {program_type(opts->kind), -1, NULL};
		prog = open_function(o, a, opts->fn_name, &as, &log, error);
	}
	if (prog) {
		if (opts->nlocations > 0) {
			attach_uprobe_locations(prog, a, opts, error);
		} else if (opts->kind == BPFLUA_ATTACH_PERF_EVENT) {
			attach_perf_event(prog, a, opts, error);
		} else {
			struct bpf_link *link = attach_one(prog, opts, error);
			if (link)
				add_link(a, link);
		}
	}
	libbpf_log_end(&log);
	if (*error || !a->nlinks) {
		if (!*error)
			*error = str_printf("'%s' was attached nowhere", opts->fn_name);
		bpflua_attachment_close(a);
		return NULL;
	}
	return a;
}

void bpflua_attachment_close(struct bpflua_attachment *a)
{
	if (!a)
		return;
	links_release(a->links, a->nlinks, a->owner);
	bpf_object__close(a->obj);
	free(a);
}

struct bpflua_attachment *bpflua_load_function(struct bpflua_object *o, const char *fn_name,
					       int prog_type, int attach_type,
					       const char *attach_target, char **error)
{
	*error = NULL;
	struct bpflua_attachment *a = calloc(1, sizeof(*a));
	if (!a) {
		*error = strdup("out of memory");
		return NULL;
	}
	a->owner = getpid();
	struct load_as as = {(enum bpf_prog_type)prog_type, attach_type, attach_target};
	struct libbpf_log log;
	libbpf_log_begin(&log);
	struct bpf_program *prog = open_function(o, a, fn_name, &as, &log, error);
	libbpf_log_end(&log);
	if (!prog) {
		bpflua_attachment_close(a);
		return NULL;
	}
	return a;
}

int bpflua_attachment_program_fd(const struct bpflua_attachment *a)
{
	return a && a->prog ? bpf_program__fd(a->prog) : -1;
}
