/* What bcc programs take for granted that vmlinux.h and libbpf do not give: the kernel's
 * macros (vmlinux.h has types, never macros) and bcc's own helper names. */
#ifndef BPFLUA_BCC_COMPAT_H
#define BPFLUA_BCC_COMPAT_H

#define BPFLUA_STRINGIFY(x) #x
#define BPFLUA_EXPAND_STRINGIFY(x) BPFLUA_STRINGIFY(x)

/* Kernel macros that tools use. */
#ifndef PAGE_SHIFT
#define PAGE_SHIFT 12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#endif
#define TASK_COMM_LEN 16
#define NAME_MAX 255
#define PATH_MAX 4096
#define DNAME_INLINE_LEN 32
#define TASK_RUNNING 0
#define TASK_INTERRUPTIBLE 1
#define TASK_UNINTERRUPTIBLE 2
#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_TCP_VALUE 6
#define KERNEL_VERSION(a, b, c) (((a) << 16) + ((b) << 8) + ((c) > 255 ? 255 : (c)))
#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#endif
#ifndef unlikely
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif
#ifndef READ_ONCE
#define READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif
#ifndef WRITE_ONCE
#define WRITE_ONCE(x, v) (*(volatile typeof(x) *)&(x) = (v))
#endif
#ifndef offsetof
#define offsetof(type, member) __builtin_offsetof(type, member)
#endif
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((void *)(ptr) - __builtin_offsetof(type, member)))
#endif

/* bcc's helper names. */
#define lock_xadd(ptr, val) ((void)__sync_fetch_and_add(ptr, val))

/* bcc's bpf_trace_printk("format", args...): the format is a string literal, its size
 * implied. The macro's own use of the name calls libbpf's helper (no recursion in macros). */
#define bpf_trace_printk(fmt, ...) ({ \
	static const char _bpflua_fmt[] = fmt; \
	bpf_trace_printk(_bpflua_fmt, sizeof(_bpflua_fmt), ##__VA_ARGS__); })

/* floor(log2(v)) for v > 0, and 0 for v == 0. */
static __always_inline unsigned int bpf_log2(unsigned int v)
{
	unsigned int r, shift;
	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* As in bcc, the histogram slot of v: 1 + floor(log2(v)), and 1 for v == 0, so that slot i
 * holds the values from 2^(i-1) to 2^i - 1. */
static __always_inline unsigned int bpf_log2l(unsigned long v)
{
	unsigned int hi = v >> 32;
	if (hi)
		return bpf_log2(hi) + 32 + 1;
	return bpf_log2(v) + 1;
}

#endif
