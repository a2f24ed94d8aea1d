/* Letting go of links, in the process that made them or in a child forked after. */
#ifndef BPFLUA_LINKS_H
#define BPFLUA_LINKS_H

#include <sys/types.h>

struct bpf_link;

/* Destroys links[0..n) and frees the array. In the process owner (the one that attached
 * them) that detaches them. In a child forked since, it only closes the child's copies of
 * their descriptors: libbpf's detach disables the perf event behind a tracepoint or probe,
 * which parent and child share, so a child exiting (an nginx worker, a daemon's helper)
 * would silently stop the parent's probes. */
void links_release(struct bpf_link **links, int n, pid_t owner);

#endif
