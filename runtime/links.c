/* See links.h. */
#include "links.h"

#include <bpf/libbpf.h>
#include <stdlib.h>
#include <unistd.h>

void links_release(struct bpf_link **links, int n, pid_t owner)
{
	int inherited = getpid() != owner;
	for (int i = 0; i < n; i++) {
		if (inherited)
			bpf_link__disconnect(links[i]); /* destroy then only closes our descriptor */
		bpf_link__destroy(links[i]);
	}
	free(links);
}
