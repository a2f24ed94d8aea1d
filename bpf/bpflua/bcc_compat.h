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

/* A probe's sixth argument (libbpf 1.1 stops at the fifth); the runtime reads probe arguments
 * declared after ctx with PT_REGS_PARMn (runtime/probe_args.cpp). */
#ifndef PT_REGS_PARM6
#if defined(__TARGET_ARCH_x86)
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->r9)
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PT_REGS_CAST(x), r9)
#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->regs[5])
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PT_REGS_CAST(x), regs[5])
#elif defined(__TARGET_ARCH_s390)
#define PT_REGS_PARM6(x) ({ _Pragma("GCC error \"s390 passes a sixth argument on the stack\""); 0l; })
#define PT_REGS_PARM6_CORE(x) PT_REGS_PARM6(x)
#else
#define PT_REGS_PARM6(x) (__PT_REGS_CAST(x)->regs[5])
#define PT_REGS_PARM6_CORE(x) BPF_CORE_READ(__PT_REGS_CAST(x), regs[5])
#endif
#endif
#ifndef PT_REGS_PARM6_CORE_SYSCALL
#define PT_REGS_PARM6_CORE_SYSCALL(x) PT_REGS_PARM6_CORE(x)
#endif

/* bcc's BPF_PROG-based probes: typed arguments straight from the kernel's BTF. The names are
 * bcc's; the runtime gives each its section (fentry/fn, fexit/fn, fmod_ret/fn, lsm/hook) from
 * the name (runtime/program_sections.cpp), so they load and attach with the program, and a
 * function named that way without the macro attaches the same way. */
#define KFUNC_PROBE(event, args...) int BPF_PROG(kfunc__vmlinux__##event, ##args)
#define KRETFUNC_PROBE(event, args...) int BPF_PROG(kretfunc__vmlinux__##event, ##args)
#define MODULE_KFUNC_PROBE(module, event, args...) \
	SEC("fentry/" #event) int BPF_PROG(kfunc__##module##__##event, ##args)
#define MODULE_KRETFUNC_PROBE(module, event, args...) \
	SEC("fexit/" #event) int BPF_PROG(kretfunc__##module##__##event, ##args)
#define KMOD_RET(event, args...) int BPF_PROG(kmod_ret__##event, ##args)
#define LSM_PROBE(event, args...) int BPF_PROG(lsm__##event, ##args)

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

/* bcc's implicit reads (runtime/kernel_reads.cpp) go through this. As in bcc, it is the
 * generic bpf_probe_read where the kernel tells user from kernel addresses by their value
 * (x86-64, arm64): a probe function's pointer argument may be a uprobe's, into the traced
 * process's memory, and reads there as in bcc. Elsewhere, bpf_probe_read_kernel. */
#if defined(__TARGET_ARCH_x86) || defined(__TARGET_ARCH_arm64)
#define bpflua_implicit_read bpf_probe_read
#else
#define bpflua_implicit_read bpf_probe_read_kernel
#endif

#endif
