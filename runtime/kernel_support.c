/* What this kernel lets a program attach, asked of the kernel itself: bcc's
 * BPF.support_kfunc(), support_lsm() and support_raw_tracepoint().
 *
 * Each check loads the smallest program of the kind ("return 0") and attaches it where it
 * can do nothing: fentry to bpf_fentry_test1 (called only by BPF_PROG_TEST_RUN), an LSM
 * program to file_open (it allows everything, and is detached at once), a raw tracepoint to
 * sys_enter. A kernel can list a feature in its BTF and still refuse it (fentry is EPERM on
 * a kernel without trampolines), so nothing short of loading and attaching tells. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "util.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct bpf_insn return_zero[] = {
	{.code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0},
	{.code = BPF_JMP | BPF_EXIT},
};

/* The BTF id of the kernel function name, or a negative errno. */
static int kernel_function_id(const char *name)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	if (!vmlinux)
		return -errno;
	int id = btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC);
	btf__free(vmlinux);
	return id;
}

/* Whether the bpf LSM is active: /sys/kernel/security/lsm lists it (-1: cannot tell,
 * securityfs is not mounted). */
static int bpf_lsm_active(void)
{
	char *lsms = file_read("/sys/kernel/security/lsm", NULL);
	if (!lsms)
		return -1;
	int active = 0;
	for (char *save, *p = lsms ? strtok_r(lsms, ",\n", &save) : NULL; p;
	     p = strtok_r(NULL, ",\n", &save))
		active |= !strcmp(p, "bpf");
	free(lsms);
	return active;
}

/* Loads return_zero as type/attach_type against the kernel function target (or none) and
 * attaches it; returns 0 or a negative errno, and says at which step in *step. */
static int load_and_attach(enum bpf_prog_type type, enum bpf_attach_type attach_type,
			   const char *target, const char *raw_tracepoint, const char **step)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach_type);
	*step = "find";
	if (target) {
		int id = kernel_function_id(target);
		if (id < 0)
			return id;
		opts.attach_btf_id = (unsigned)id;
	}
	*step = "load";
	int prog = bpf_prog_load(type, "bpflua_probe", "GPL", return_zero,
				 sizeof(return_zero) / sizeof(return_zero[0]), &opts);
	if (prog < 0)
		return -errno;
	*step = "attach";
	int link = raw_tracepoint ? bpf_raw_tracepoint_open(raw_tracepoint, prog)
				  : bpf_link_create(prog, 0, attach_type, NULL);
	int err = link < 0 ? -errno : 0;
	if (link >= 0)
		close(link);
	close(prog);
	return err;
}

int bpflua_kernel_supports(const char *feature, char **why)
{
	*why = NULL;
	int err;
	const char *step = "";
	const char *what;
	if (!strcmp(feature, "kfunc")) {
		what = "an fentry program on bpf_fentry_test1";
		err = load_and_attach(BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY, "bpf_fentry_test1",
				      NULL, &step);
	} else if (!strcmp(feature, "lsm")) {
		if (kernel_function_id("bpf_lsm_file_open") < 0) {
			*why = strdup("this kernel has no BPF LSM hooks (built without "
				      "CONFIG_BPF_LSM)");
			return 0;
		}
		if (bpf_lsm_active() == 0) {
			*why = strdup("the bpf LSM is not active: /sys/kernel/security/lsm does not "
				      "list \"bpf\" (boot with lsm=...,bpf)");
			return 0;
		}
		what = "an LSM program on file_open";
		err = load_and_attach(BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open", NULL,
				      &step);
	} else if (!strcmp(feature, "raw_tracepoint")) {
		what = "a raw tracepoint program on sys_enter";
		err = load_and_attach(BPF_PROG_TYPE_RAW_TRACEPOINT, 0, NULL, "sys_enter", &step);
	} else {
		*why = str_printf("unknown feature '%s' (known: kfunc, lsm, raw_tracepoint)", feature);
		return 0;
	}
	if (!err)
		return 1;
	if (!strcmp(step, "find"))
		*why = str_printf("cannot find the kernel function for %s: %s", what,
				  strerror(-err));
	else
		*why = str_printf("the kernel refused to %s %s: %s", step, what, strerror(-err));
	return 0;
}
