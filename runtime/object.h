/* What the loader (object.c) and the attach calls (attach.c) share. */
#ifndef BPFLUA_OBJECT_H
#define BPFLUA_OBJECT_H

#include <bpf/libbpf.h>
#include <stdio.h>
#include <sys/types.h>

/* The section the compiler gives each non-static function (runtime/program_sections.cpp). */
#define BPFLUA_FUNCTION_SECTION "bpflua/"

/* The kernel keeps the end of a verifier log that outgrows this (rotating log, Linux 6.4+),
 * and the end is where the reason is. */
#define VERIFIER_LOG_SIZE (1u << 20)

#define BPFLUA_NO_KPROBES "this kernel has no kprobes (it was built without CONFIG_KPROBES)"

struct bpflua_object {
	struct bpf_object *obj;     /* the maps, and the probes attached at load */
	struct bpf_link **links;
	int nlinks;
	char *elf;                  /* the compiled ELF, to load functions from on attach */
	size_t elf_len;
	pid_t owner;                /* the process that loaded it: see links_release */
};

int bpflua_kernel_has_kprobes(void);

/* A message for a failed bpf_object__load: the rejected program and its verifier log. */
char *explain_load_failure(struct bpf_object *obj, int err, const char *libbpf_said);

void free_logs(char **logs, int n);

#endif
