#define _GNU_SOURCE
#include "kernel_types.h"
#include "libbpf_log.h"
#include "util.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#define VMLINUX_BTF "/sys/kernel/btf/vmlinux"

void kernel_types_identify(struct sha256 *key)
{
	struct utsname u;
	struct stat st;
	char size[32] = "";
	if (uname(&u) == 0) {
		sha256_update_str(key, u.release);
		sha256_update_str(key, u.version);
		sha256_update_str(key, u.machine);
	}
	if (stat(VMLINUX_BTF, &st) == 0)
		snprintf(size, sizeof(size), "%lld", (long long)st.st_size);
	sha256_update_str(key, size);
}

static void print_to_file(void *ctx, const char *fmt, va_list args)
{
	vfprintf(ctx, fmt, args);
}

int kernel_types_write_vmlinux_h(const char *path, const char *tmp_path, char **error)
{
	struct libbpf_log log; /* libbpf's warning says no more than the error below */
	libbpf_log_begin(&log);
	struct btf *btf = btf__load_vmlinux_btf();
	int err = errno;
	libbpf_log_end(&log);
	if (!btf) {
		*error = str_printf("cannot read the kernel's types from %s: %s (bpflua needs a "
				    "kernel built with CONFIG_DEBUG_INFO_BTF)",
				    VMLINUX_BTF, strerror(err));
		return -1;
	}
	char *tmp = tmp_path ? strdup(tmp_path) : str_printf("%s.tmp.%d", path, (int)getpid());
	FILE *out = tmp ? fopen(tmp, "we") : NULL;
	struct btf_dump *dump = out ? btf_dump__new(btf, print_to_file, out, NULL) : NULL;
	int ret = -1;
	if (!dump) {
		*error = str_printf("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	/* Record types get preserve_access_index, so field accesses are CO-RE relocatable as
	 * with a vmlinux.h from bpftool. */
	fprintf(out, "#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n"
		     "#pragma clang attribute push (__attribute__((preserve_access_index)), "
		     "apply_to = record)\n");
	int count = (int)btf__type_cnt(btf);
	for (int id = 1; id < count; id++) {
		int err = btf_dump__dump_type(dump, id);
		if (err) {
			*error = str_printf("cannot write kernel type %d to %s: %s", id, path,
					    strerror(-err));
			goto out;
		}
	}
	fprintf(out, "#pragma clang attribute pop\n#endif\n");
	if (fflush(out) != 0 || ferror(out)) {
		*error = str_printf("cannot write %s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	btf_dump__free(dump);
	if (out && fclose(out) != 0 && ret == 0) {
		*error = str_printf("cannot write %s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret == 0 && rename(tmp, path) < 0) {
		*error = str_printf("cannot write %s: %s", path, strerror(errno));
		ret = -1;
	}
	if (ret != 0 && tmp)
		unlink(tmp);
	free(tmp);
	btf__free(btf);
	return ret;
}
