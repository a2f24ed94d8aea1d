/* bpflua_prepare: makes the cache ready for this kernel before the first script needs it, so
 * that new programs compile against the prelude PCH from the first run on (~30 ms to the
 * first event), where a first run without it compiles against the kernel types it names and
 * leaves the prelude to a background process. For `bpflua --prepare`, run at install time and
 * by packagers' or boot scripts after a kernel change. It compiles an empty program through
 * compile_with_full_prelude, which builds whatever the cache lacks for this kernel, compiler
 * and header set in the foreground: vmlinux.h, then the PCH. */
#define _GNU_SOURCE
#include "bpflua.h"
#include "cache.h"
#include "compile_job.h"

#include <stdlib.h>
#include <string.h>

int bpflua_prepare(const char **dir, char **error)
{
	static const char source[] = "/* bpflua --prepare */\n";
	struct bpflua_compile_opts opts = {
		.source = source,
		.source_len = strlen(source),
		.source_name = "<bpflua prepare>",
	};
	/* An object cache hit for this program means that its PCH key, and so this kernel's
	 * vmlinux.h and PCH, were already made. */
	struct bpflua_compiled *compiled = compile_with_full_prelude(&opts, error);
	if (!compiled)
		return -1;
	bpflua_compiled_free(compiled);
	*dir = cache_dir();
	return 0;
}
