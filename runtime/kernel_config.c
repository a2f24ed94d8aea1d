/* kernel_config: see kernel_config.h. */
#define _GNU_SOURCE
#include "kernel_config.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <zlib.h>

#define MAX_NAME 128

/* The kernel's configuration text, read once per process (again if $BPFLUA_KERNEL_CONFIG
 * changes); "" when the kernel publishes none. $BPFLUA_KERNEL_CONFIG names a configuration
 * file to use instead, gzipped or not; set and empty, it says there is none. */
static const char *config_text(void)
{
	static char *text, *from;
	const char *override = getenv("BPFLUA_KERNEL_CONFIG");
	if (text && (override ? from && !strcmp(from, override) : !from))
		return text;
	free(text);
	free(from);
	text = NULL;
	from = override ? strdup(override) : NULL;
	size_t len = 0, cap = 0;
	gzFile gz = override ? (*override ? gzopen(override, "rb") : NULL)
			     : gzopen("/proc/config.gz", "rb");
	if (!gz && !override) {
		struct utsname u;
		char path[128 + sizeof(u.release)];
		if (uname(&u) == 0) {
			snprintf(path, sizeof(path), "/boot/config-%s", u.release);
			gz = gzopen(path, "rb"); /* zlib reads a file that is not compressed as it is */
		}
	}
	if (gz) {
		for (;;) {
			if (cap - len < 65536) {
				char *bigger = realloc(text, cap + 262144);
				if (!bigger)
					break;
				text = bigger;
				cap += 262144;
			}
			int n = gzread(gz, text + len, (unsigned)(cap - len - 1));
			if (n <= 0)
				break;
			len += (size_t)n;
		}
		gzclose(gz);
	}
	if (!text)
		text = calloc(1, 1);
	if (text)
		text[len] = '\0';
	return text ? text : "";
}

/* The value of `NAME=value` in the configuration, or NULL; writes it to value. */
static int config_lookup(const char *config, const char *name, char *value, size_t size)
{
	size_t n = strlen(name);
	for (const char *p = config; (p = strstr(p, name)); p += n) {
		if ((p != config && p[-1] != '\n') || p[n] != '=')
			continue;
		const char *v = p + n + 1, *end = strchrnul(v, '\n');
		snprintf(value, size, "%.*s", (int)(end - v), v);
		return 1;
	}
	return 0;
}

/* ---- Without a configuration: what the kernel's BTF and architecture give away -------- */

/* Options a bcc tool tests, each with a member that the kernel has only with the option. */
static const struct {
	const char *option, *type, *member;
} btf_evidence[] = {
	{"CONFIG_NET_NS", "possible_net_t", "net"},
	{"CONFIG_NUMA", "zone", "node"},
	{"CONFIG_SLUB", "kmem_cache", "min_partial"},
	{"CONFIG_SLAB", "kmem_cache", "cpu_cache"},
	{"CONFIG_SMP", "task_struct", "on_cpu"},
	{"CONFIG_THREAD_INFO_IN_TASK", "task_struct", "thread_info"},
	{"CONFIG_CGROUPS", "task_struct", "cgroups"},
	{"CONFIG_CGROUP_SCHED", "task_struct", "sched_task_group"},
	{"CONFIG_FAIR_GROUP_SCHED", "sched_entity", "cfs_rq"},
	{"CONFIG_SCHED_INFO", "task_struct", "sched_info"},
	{"CONFIG_TASK_DELAY_ACCT", "task_struct", "delays"},
	{"CONFIG_NUMA_BALANCING", "task_struct", "numa_scan_seq"},
	{"CONFIG_MEMCG", "mm_struct", "owner"},
	{"CONFIG_SECURITY", "task_struct", "security"},
	{"CONFIG_SECCOMP", "task_struct", "seccomp"},
	{"CONFIG_PERF_EVENTS", "task_struct", "perf_event_ctxp"},
	{"CONFIG_BPF_SYSCALL", "task_struct", "bpf_storage"},
	{"CONFIG_BLK_CGROUP", "bio", "bi_blkg"},
	{"CONFIG_IPV6", "sock_common", "skc_v6_daddr"},
	{"CONFIG_NET_RX_BUSY_POLL", "sock", "sk_napi_id"},
	{"CONFIG_KEYS", "cred", "session_keyring"},
};

static struct btf *kernel_btf(void)
{
	static struct btf *btf;
	static int tried;
	if (!tried) {
		tried = 1;
		btf = btf__load_vmlinux_btf();
		if (libbpf_get_error(btf))
			btf = NULL;
	}
	return btf;
}

/* Whether the struct, union or typedef `type` has `member` (anonymous members searched). */
static int btf_has_member(const struct btf *btf, int id, const char *member, int depth)
{
	const struct btf_type *t = btf__type_by_id(btf, (__u32)id);
	while (t && (btf_is_typedef(t) || btf_is_mod(t))) {
		id = (int)t->type;
		t = btf__type_by_id(btf, (__u32)id);
	}
	if (!t || !btf_is_composite(t) || depth > 4)
		return 0;
	const struct btf_member *m = btf_members(t);
	for (int i = 0; i < btf_vlen(t); i++, m++) {
		const char *name = btf__name_by_offset(btf, m->name_off);
		if (name && !strcmp(name, member))
			return 1;
		if ((!name || !*name) && btf_has_member(btf, (int)m->type, member, depth + 1))
			return 1;
	}
	return 0;
}

static int evidence_says(const char *option)
{
	for (size_t i = 0; i < sizeof(btf_evidence) / sizeof(btf_evidence[0]); i++) {
		if (strcmp(btf_evidence[i].option, option) != 0)
			continue;
		struct btf *btf = kernel_btf();
		if (!btf)
			return 0;
		int id = btf__find_by_name_kind(btf, btf_evidence[i].type, BTF_KIND_STRUCT);
		if (id < 0)
			id = btf__find_by_name_kind(btf, btf_evidence[i].type, BTF_KIND_TYPEDEF);
		return id >= 0 && btf_has_member(btf, id, btf_evidence[i].member, 0);
	}
	return 0;
}

/* The options of the running architecture that every kernel built for it sets. */
static int architecture_says(const char *option)
{
	struct utsname u;
	if (uname(&u) != 0)
		return 0;
	static const struct {
		const char *machine, *options;
	} arch_options[] = {
		{"x86_64", " CONFIG_X86 CONFIG_X86_64 CONFIG_64BIT "},
		{"aarch64", " CONFIG_ARM64 CONFIG_64BIT "},
		{"s390x", " CONFIG_S390 CONFIG_64BIT "},
		{"ppc64le", " CONFIG_PPC CONFIG_PPC64 CONFIG_64BIT "},
		{"riscv64", " CONFIG_RISCV CONFIG_64BIT "},
	};
	char word[MAX_NAME + 2];
	snprintf(word, sizeof(word), " %s ", option);
	for (size_t i = 0; i < sizeof(arch_options) / sizeof(arch_options[0]); i++)
		if (!strcmp(u.machine, arch_options[i].machine))
			return strstr(arch_options[i].options, word) != NULL;
	return 0;
}

/* The value autoconf.h would give name (CONFIG_X or CONFIG_X_MODULE), or 0 if unset. */
static int option_value(const char *name, char *value, size_t size)
{
	const char *config = config_text();
	char setting[256];
	if (*config) {
		size_t n = strlen(name);
		if (config_lookup(config, name, setting, sizeof(setting))) {
			if (!strcmp(setting, "m") || !strcmp(setting, "n"))
				return 0;
			snprintf(value, size, "%s", !strcmp(setting, "y") ? "1" : setting);
			return 1;
		}
		/* CONFIG_X_MODULE: X=m */
		if (n > 7 && !strcmp(name + n - 7, "_MODULE")) {
			char base[MAX_NAME];
			snprintf(base, sizeof(base), "%.*s", (int)(n - 7), name);
			if (config_lookup(config, base, setting, sizeof(setting)) &&
			    !strcmp(setting, "m")) {
				snprintf(value, size, "1");
				return 1;
			}
		}
		return 0;
	}
	if (architecture_says(name) || evidence_says(name)) {
		snprintf(value, size, "1");
		return 1;
	}
	return 0;
}

static int is_ident(char c)
{
	return isalnum((unsigned char)c) || c == '_';
}

int kernel_config_write(FILE *out, const char *text, size_t len)
{
	const char *end = text + len;
	char written[4096] = " ";
	int count = 0;
	for (const char *p = text; p < end && (p = memmem(p, (size_t)(end - p), "CONFIG_", 7));) {
		const char *start = p;
		while (p < end && is_ident(*p))
			p++;
		if ((start > text && is_ident(start[-1])) || p - start >= MAX_NAME)
			continue;
		char key[MAX_NAME + 3], value[256];
		snprintf(key, sizeof(key), " %.*s ", (int)(p - start), start);
		if (strstr(written, key))
			continue;
		if (strlen(written) + strlen(key) < sizeof(written))
			strcat(written, key + 1);
		char *name = key + 1;
		name[p - start] = '\0';
		if (!option_value(name, value, sizeof(value)))
			continue;
		fprintf(out, "#ifndef %s\n#define %s %s\n#endif\n", name, name, value);
		count++;
	}
	return count;
}
