/* The kernel's macros that bcc programs use: vmlinux.h has every type and enum of the running
 * kernel but no macro, and bcc programs were written against the kernel's own headers. Each
 * value here is the kernel's definition; where one follows from an enum in the kernel's BTF
 * (REQ_*, GFP_*) it is written in terms of that enum, so it is right for the running kernel
 * whatever its version. Values that differ between x86-64 and arm64 are chosen by
 * __TARGET_ARCH_*, which the compiler defines for the machine it runs on.
 *
 * Everything is guarded by #ifndef: a program that defines one of these itself (bcc tools
 * sometimes do, for old kernels) keeps its own. Field aliases such as sk_family are not here
 * but in the stubs of the headers that define them (bpflua/kernel/), as in the kernel. */
#ifndef BPFLUA_KERNEL_MACROS_H
#define BPFLUA_KERNEL_MACROS_H

/* ---- compiler.h, compiler_types.h: annotations that mean nothing to BPF code ---------- */
#ifndef __user
#define __user
#endif
#ifndef __kernel
#define __kernel
#endif
#ifndef __iomem
#define __iomem
#endif
#ifndef __percpu
#define __percpu
#endif
#ifndef __rcu
#define __rcu
#endif
#ifndef __force
#define __force
#endif
#ifndef __bitwise
#define __bitwise
#endif
#ifndef __must_check
#define __must_check
#endif
#ifndef __init
#define __init
#endif
#ifndef __read_mostly
#define __read_mostly
#endif
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#ifndef __aligned
#define __aligned(x) __attribute__((aligned(x)))
#endif
#ifndef __maybe_unused
#define __maybe_unused __attribute__((unused))
#endif
#ifndef __used
#define __used __attribute__((used))
#endif
#ifndef __cold
#define __cold __attribute__((cold))
#endif
#ifndef noinline
#define noinline __attribute__((noinline))
#endif
#ifndef __section
#define __section(s) __attribute__((section(s)))
#endif
#ifndef __stringify
#define __stringify_1(x...) #x
#define __stringify(x...) __stringify_1(x)
#endif
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif
#ifndef BIT
#define BIT(nr) (1UL << (nr))
#endif
#ifndef BIT_ULL
#define BIT_ULL(nr) (1ULL << (nr))
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#ifndef U8_MAX
#define U8_MAX ((u8)~0U)
#define S8_MAX ((s8)(U8_MAX >> 1))
#define S8_MIN ((s8)(-S8_MAX - 1))
#define U16_MAX ((u16)~0U)
#define S16_MAX ((s16)(U16_MAX >> 1))
#define S16_MIN ((s16)(-S16_MAX - 1))
#define U32_MAX ((u32)~0U)
#define S32_MAX ((s32)(U32_MAX >> 1))
#define S32_MIN ((s32)(-S32_MAX - 1))
#define U64_MAX ((u64)~0ULL)
#define S64_MAX ((s64)(U64_MAX >> 1))
#define S64_MIN ((s64)(-S64_MAX - 1))
#endif
#ifndef INT_MAX
#define INT_MAX ((int)(~0U >> 1))
#define INT_MIN (-INT_MAX - 1)
#define UINT_MAX (~0U)
#define LONG_MAX ((long)(~0UL >> 1))
#define LONG_MIN (-LONG_MAX - 1)
#define ULONG_MAX (~0UL)
#define LLONG_MAX ((long long)(~0ULL >> 1))
#define LLONG_MIN (-LLONG_MAX - 1)
#define ULLONG_MAX (~0ULL)
#endif
#ifndef min
#define min(a, b) ((a) < (b) ? (a) : (b))
#define max(a, b) ((a) > (b) ? (a) : (b))
#endif
#ifndef min_t
#define min_t(type, a, b) ((type)(a) < (type)(b) ? (type)(a) : (type)(b))
#define max_t(type, a, b) ((type)(a) > (type)(b) ? (type)(a) : (type)(b))
#endif

/* ---- linux/math64.h: the kernel's 64-bit division helpers (BPF divides natively) ------- */
#ifndef div_u64
#define div_u64(dividend, divisor) ((u64)(dividend) / (u32)(divisor))
#define div64_u64(dividend, divisor) ((u64)(dividend) / (u64)(divisor))
#define div_s64(dividend, divisor) ((s64)(dividend) / (s32)(divisor))
#define div64_s64(dividend, divisor) ((s64)(dividend) / (s64)(divisor))
#endif

/* ---- Byte order (linux/byteorder, arpa/inet.h's names, which bcc programs use) -------- */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define __bpflua_be16(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define __bpflua_be32(x) ((__u32)__builtin_bswap32((__u32)(x)))
#define __bpflua_be64(x) ((__u64)__builtin_bswap64((__u64)(x)))
#define __bpflua_le16(x) ((__u16)(x))
#define __bpflua_le32(x) ((__u32)(x))
#define __bpflua_le64(x) ((__u64)(x))
#else
#define __bpflua_be16(x) ((__u16)(x))
#define __bpflua_be32(x) ((__u32)(x))
#define __bpflua_be64(x) ((__u64)(x))
#define __bpflua_le16(x) ((__u16)__builtin_bswap16((__u16)(x)))
#define __bpflua_le32(x) ((__u32)__builtin_bswap32((__u32)(x)))
#define __bpflua_le64(x) ((__u64)__builtin_bswap64((__u64)(x)))
#endif
#ifndef ntohs
#define ntohs(x) __bpflua_be16(x)
#define htons(x) __bpflua_be16(x)
#define ntohl(x) __bpflua_be32(x)
#define htonl(x) __bpflua_be32(x)
#endif
#ifndef be16_to_cpu
#define be16_to_cpu(x) __bpflua_be16(x)
#define be32_to_cpu(x) __bpflua_be32(x)
#define be64_to_cpu(x) __bpflua_be64(x)
#define cpu_to_be16(x) __bpflua_be16(x)
#define cpu_to_be32(x) __bpflua_be32(x)
#define cpu_to_be64(x) __bpflua_be64(x)
#define le16_to_cpu(x) __bpflua_le16(x)
#define le32_to_cpu(x) __bpflua_le32(x)
#define le64_to_cpu(x) __bpflua_le64(x)
#define cpu_to_le16(x) __bpflua_le16(x)
#define cpu_to_le32(x) __bpflua_le32(x)
#define cpu_to_le64(x) __bpflua_le64(x)
#define __be16_to_cpu(x) __bpflua_be16(x)
#define __be32_to_cpu(x) __bpflua_be32(x)
#define __be64_to_cpu(x) __bpflua_be64(x)
#define __cpu_to_be16(x) __bpflua_be16(x)
#define __cpu_to_be32(x) __bpflua_be32(x)
#define __cpu_to_be64(x) __bpflua_be64(x)
#endif

/* ---- errno values: asm-generic/errno-base.h, errno.h, linux/errno.h (the same on
 * x86-64 and arm64) --------------------------------------------------------------------- */
#ifndef EPERM
#define EPERM 1
#define ENOENT 2
#define ESRCH 3
#define EINTR 4
#define EIO 5
#define ENXIO 6
#define E2BIG 7
#define ENOEXEC 8
#define EBADF 9
#define ECHILD 10
#define EAGAIN 11
#define ENOMEM 12
#define EACCES 13
#define EFAULT 14
#define ENOTBLK 15
#define EBUSY 16
#define EEXIST 17
#define EXDEV 18
#define ENODEV 19
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ENFILE 23
#define EMFILE 24
#define ENOTTY 25
#define ETXTBSY 26
#define EFBIG 27
#define ENOSPC 28
#define ESPIPE 29
#define EROFS 30
#define EMLINK 31
#define EPIPE 32
#define EDOM 33
#define ERANGE 34
#define EDEADLK 35
#define ENAMETOOLONG 36
#define ENOLCK 37
#define ENOSYS 38
#define ENOTEMPTY 39
#define ELOOP 40
#define EWOULDBLOCK EAGAIN
#define ENOMSG 42
#define EIDRM 43
#define ECHRNG 44
#define EL2NSYNC 45
#define EL3HLT 46
#define EL3RST 47
#define ELNRNG 48
#define EUNATCH 49
#define ENOCSI 50
#define EL2HLT 51
#define EBADE 52
#define EBADR 53
#define EXFULL 54
#define ENOANO 55
#define EBADRQC 56
#define EBADSLT 57
#define EDEADLOCK EDEADLK
#define EBFONT 59
#define ENOSTR 60
#define ENODATA 61
#define ETIME 62
#define ENOSR 63
#define ENONET 64
#define ENOPKG 65
#define EREMOTE 66
#define ENOLINK 67
#define EADV 68
#define ESRMNT 69
#define ECOMM 70
#define EPROTO 71
#define EMULTIHOP 72
#define EDOTDOT 73
#define EBADMSG 74
#define EOVERFLOW 75
#define ENOTUNIQ 76
#define EBADFD 77
#define EREMCHG 78
#define ELIBACC 79
#define ELIBBAD 80
#define ELIBSCN 81
#define ELIBMAX 82
#define ELIBEXEC 83
#define EILSEQ 84
#define ERESTART 85
#define ESTRPIPE 86
#define EUSERS 87
#define ENOTSOCK 88
#define EDESTADDRREQ 89
#define EMSGSIZE 90
#define EPROTOTYPE 91
#define ENOPROTOOPT 92
#define EPROTONOSUPPORT 93
#define ESOCKTNOSUPPORT 94
#define EOPNOTSUPP 95
#define EPFNOSUPPORT 96
#define EAFNOSUPPORT 97
#define EADDRINUSE 98
#define EADDRNOTAVAIL 99
#define ENETDOWN 100
#define ENETUNREACH 101
#define ENETRESET 102
#define ECONNABORTED 103
#define ECONNRESET 104
#define ENOBUFS 105
#define EISCONN 106
#define ENOTCONN 107
#define ESHUTDOWN 108
#define ETOOMANYREFS 109
#define ETIMEDOUT 110
#define ECONNREFUSED 111
#define EHOSTDOWN 112
#define EHOSTUNREACH 113
#define EALREADY 114
#define EINPROGRESS 115
#define ESTALE 116
#define EUCLEAN 117
#define ENOTNAM 118
#define ENAVAIL 119
#define EISNAM 120
#define EREMOTEIO 121
#define EDQUOT 122
#define ENOMEDIUM 123
#define EMEDIUMTYPE 124
#define ECANCELED 125
#define ENOKEY 126
#define EKEYEXPIRED 127
#define EKEYREVOKED 128
#define EKEYREJECTED 129
#define EOWNERDEAD 130
#define ENOTRECOVERABLE 131
#define ERFKILL 132
#define EHWPOISON 133
/* linux/errno.h: kernel-internal, never seen by user space. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ENOIOCTLCMD 515
#define ERESTART_RESTARTBLOCK 516
#define EPROBE_DEFER 517
#define EOPENSTALE 518
#define ENOPARAM 519
#define EBADHANDLE 521
#define ENOTSYNC 522
#define EBADCOOKIE 523
#define ENOTSUPP 524
#define ETOOSMALL 525
#define ESERVERFAULT 526
#define EBADTYPE 527
#define EJUKEBOX 528
#define EIOCBQUEUED 529
#define ERECALLCONFLICT 530
#endif
#ifndef MAX_ERRNO
#define MAX_ERRNO 4095
#define IS_ERR_VALUE(x) ((unsigned long)(void *)(x) >= (unsigned long)-MAX_ERRNO)
#endif

/* ---- Memory: asm/page.h, asm/page_64_types.h, arm64's asm/memory.h ------------------- */
#ifndef PAGE_SHIFT
#define PAGE_SHIFT 12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#endif
#ifndef PAGE_MASK
#define PAGE_MASK (~(PAGE_SIZE - 1))
#endif
#ifndef THREAD_SIZE
#if defined(__TARGET_ARCH_x86)
#define THREAD_SIZE (PAGE_SIZE << 2) /* 16 KiB (KASAN doubles it) */
#else
#define THREAD_SIZE (1UL << 14)      /* arm64: MIN_THREAD_SHIFT 14 */
#endif
#endif
#ifndef PAGE_OFFSET
#if defined(__TARGET_ARCH_x86)
/* The start of the direct map with 4-level paging (asm/page_64_types.h); 5-level paging
 * puts it at __PAGE_OFFSET_BASE_L5. A kernel with CONFIG_RANDOMIZE_MEMORY moves it to
 * page_offset_base, a variable BPF cannot name unless kallsyms lists data symbols. */
#define __PAGE_OFFSET_BASE_L4 0xffff888000000000UL
#define __PAGE_OFFSET_BASE_L5 0xff11000000000000UL
#define PAGE_OFFSET __PAGE_OFFSET_BASE_L4
#elif defined(__TARGET_ARCH_arm64)
/* -(1 << VA_BITS) (asm/memory.h): Debian's arm64 kernels have VA_BITS 48. */
#define PAGE_OFFSET 0xffff000000000000UL
#endif
#endif

/* ---- Tasks: linux/sched.h, uapi/linux/sched.h ---------------------------------------- */
#ifndef TASK_COMM_LEN
#define TASK_COMM_LEN 16
#endif
#ifndef TASK_RUNNING
#define TASK_RUNNING 0x00000000
#endif
#ifndef TASK_INTERRUPTIBLE
#define TASK_INTERRUPTIBLE 0x00000001
#endif
#ifndef TASK_UNINTERRUPTIBLE
#define TASK_UNINTERRUPTIBLE 0x00000002
#endif
#ifndef __TASK_STOPPED
#define __TASK_STOPPED 0x00000004
#define __TASK_TRACED 0x00000008
#define EXIT_DEAD 0x00000010
#define EXIT_ZOMBIE 0x00000020
#define EXIT_TRACE (EXIT_ZOMBIE | EXIT_DEAD)
#define TASK_PARKED 0x00000040
#define TASK_DEAD 0x00000080
#define TASK_WAKEKILL 0x00000100
#define TASK_WAKING 0x00000200
#define TASK_NOLOAD 0x00000400
#define TASK_NEW 0x00000800
#define TASK_KILLABLE (TASK_WAKEKILL | TASK_UNINTERRUPTIBLE)
#define TASK_STOPPED (TASK_WAKEKILL | __TASK_STOPPED)
#define TASK_TRACED __TASK_TRACED
#define TASK_IDLE (TASK_UNINTERRUPTIBLE | TASK_NOLOAD)
#define TASK_NORMAL (TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE)
#define TASK_REPORT (TASK_RUNNING | TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE | \
		     __TASK_STOPPED | __TASK_TRACED | EXIT_DEAD | EXIT_ZOMBIE | TASK_PARKED)
#endif
#ifndef PF_KTHREAD
#define PF_IDLE 0x00000002
#define PF_EXITING 0x00000004
#define PF_VCPU 0x00000010
#define PF_WQ_WORKER 0x00000020
#define PF_FORKNOEXEC 0x00000040
#define PF_SUPERPRIV 0x00000100
#define PF_DUMPCORE 0x00000200
#define PF_SIGNALED 0x00000400
#define PF_MEMALLOC 0x00000800
#define PF_NPROC_EXCEEDED 0x00001000
#define PF_USED_MATH 0x00002000
#define PF_NOFREEZE 0x00008000
#define PF_KSWAPD 0x00020000
#define PF_MEMALLOC_NOFS 0x00040000
#define PF_MEMALLOC_NOIO 0x00080000
#define PF_KTHREAD 0x00200000
#define PF_RANDOMIZE 0x00400000
#define PF_NO_SETAFFINITY 0x04000000
#define PF_MCE_EARLY 0x08000000
#define PF_SUSPEND_TASK 0x80000000
#endif
#ifndef CLONE_VM
#define CSIGNAL 0x000000ff
#define CLONE_VM 0x00000100
#define CLONE_FS 0x00000200
#define CLONE_FILES 0x00000400
#define CLONE_SIGHAND 0x00000800
#define CLONE_PIDFD 0x00001000
#define CLONE_PTRACE 0x00002000
#define CLONE_VFORK 0x00004000
#define CLONE_PARENT 0x00008000
#define CLONE_THREAD 0x00010000
#define CLONE_NEWNS 0x00020000
#define CLONE_SYSVSEM 0x00040000
#define CLONE_SETTLS 0x00080000
#define CLONE_PARENT_SETTID 0x00100000
#define CLONE_CHILD_CLEARTID 0x00200000
#define CLONE_DETACHED 0x00400000
#define CLONE_UNTRACED 0x00800000
#define CLONE_CHILD_SETTID 0x01000000
#define CLONE_NEWCGROUP 0x02000000
#define CLONE_NEWUTS 0x04000000
#define CLONE_NEWIPC 0x08000000
#define CLONE_NEWUSER 0x10000000
#define CLONE_NEWPID 0x20000000
#define CLONE_NEWNET 0x40000000
#define CLONE_IO 0x80000000
#endif
#ifndef SCHED_NORMAL
#define SCHED_NORMAL 0
#define SCHED_FIFO 1
#define SCHED_RR 2
#define SCHED_BATCH 3
#define SCHED_IDLE 5
#define SCHED_DEADLINE 6
#endif
#ifndef MAX_NICE
#define MAX_NICE 19
#define MIN_NICE -20
#define NICE_WIDTH (MAX_NICE - MIN_NICE + 1)
#define MAX_RT_PRIO 100
#define MAX_PRIO (MAX_RT_PRIO + NICE_WIDTH)
#define DEFAULT_PRIO (MAX_RT_PRIO + NICE_WIDTH / 2)
#endif
#ifndef SIGKILL /* asm-generic/signal.h; x86 and arm64 agree */
#define SIGHUP 1
#define SIGINT 2
#define SIGQUIT 3
#define SIGILL 4
#define SIGTRAP 5
#define SIGABRT 6
#define SIGIOT 6
#define SIGBUS 7
#define SIGFPE 8
#define SIGKILL 9
#define SIGUSR1 10
#define SIGSEGV 11
#define SIGUSR2 12
#define SIGPIPE 13
#define SIGALRM 14
#define SIGTERM 15
#define SIGSTKFLT 16
#define SIGCHLD 17
#define SIGCONT 18
#define SIGSTOP 19
#define SIGTSTP 20
#define SIGTTIN 21
#define SIGTTOU 22
#define SIGURG 23
#define SIGXCPU 24
#define SIGXFSZ 25
#define SIGVTALRM 26
#define SIGPROF 27
#define SIGWINCH 28
#define SIGIO 29
#define SIGPOLL SIGIO
#define SIGPWR 30
#define SIGSYS 31
#endif

/* ---- Files: linux/fs.h, uapi/linux/stat.h, fcntl.h, limits.h ------------------------- */
#ifndef NAME_MAX
#define NAME_MAX 255
#endif
#ifndef PATH_MAX
#define PATH_MAX 4096
#endif
#ifndef DNAME_INLINE_LEN
#define DNAME_INLINE_LEN 32 /* 64-bit kernels */
#endif
#ifndef S_IFMT
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define S_ISUID 0004000
#define S_ISGID 0002000
#define S_ISVTX 0001000
#define S_ISLNK(m) (((m) & S_IFMT) == S_IFLNK)
#define S_ISREG(m) (((m) & S_IFMT) == S_IFREG)
#define S_ISDIR(m) (((m) & S_IFMT) == S_IFDIR)
#define S_ISCHR(m) (((m) & S_IFMT) == S_IFCHR)
#define S_ISBLK(m) (((m) & S_IFMT) == S_IFBLK)
#define S_ISFIFO(m) (((m) & S_IFMT) == S_IFIFO)
#define S_ISSOCK(m) (((m) & S_IFMT) == S_IFSOCK)
#define S_IRWXU 00700
#define S_IRUSR 00400
#define S_IWUSR 00200
#define S_IXUSR 00100
#define S_IRWXG 00070
#define S_IRGRP 00040
#define S_IWGRP 00020
#define S_IXGRP 00010
#define S_IRWXO 00007
#define S_IROTH 00004
#define S_IWOTH 00002
#define S_IXOTH 00001
#endif
#ifndef O_RDONLY
#define O_ACCMODE 00000003
#define O_RDONLY 00000000
#define O_WRONLY 00000001
#define O_RDWR 00000002
#define O_CREAT 00000100
#define O_EXCL 00000200
#define O_NOCTTY 00000400
#define O_TRUNC 00001000
#define O_APPEND 00002000
#define O_NONBLOCK 00004000
#define O_DSYNC 00010000
#define FASYNC 00020000
#if defined(__TARGET_ARCH_arm64)
#define O_DIRECTORY 040000
#define O_NOFOLLOW 0100000
#define O_DIRECT 0200000
#define O_LARGEFILE 0400000
#else
#define O_DIRECT 00040000
#define O_LARGEFILE 00100000
#define O_DIRECTORY 00200000
#define O_NOFOLLOW 00400000
#endif
#define O_NOATIME 01000000
#define O_CLOEXEC 02000000
#define __O_SYNC 04000000
#define O_SYNC (__O_SYNC | O_DSYNC)
#define O_PATH 010000000
#define __O_TMPFILE 020000000
#define O_TMPFILE (__O_TMPFILE | O_DIRECTORY)
#define O_NDELAY O_NONBLOCK
#endif
#ifndef AT_FDCWD
#define AT_FDCWD -100
#define AT_SYMLINK_NOFOLLOW 0x100
#define AT_REMOVEDIR 0x200
#define AT_SYMLINK_FOLLOW 0x400
#define AT_EMPTY_PATH 0x1000
#endif
/* fmode_t bits as 6.1-6.x define them (file->f_mode). */
#ifndef FMODE_READ
#define FMODE_READ 0x1
#define FMODE_WRITE 0x2
#define FMODE_LSEEK 0x4
#define FMODE_PREAD 0x8
#define FMODE_PWRITE 0x10
#define FMODE_EXEC 0x20
#define FMODE_NDELAY 0x40
#define FMODE_EXCL 0x80
#define FMODE_WRITE_IOCTL 0x100
#define FMODE_32BITHASH 0x200
#define FMODE_64BITHASH 0x400
#define FMODE_NOCMTIME 0x800
#define FMODE_RANDOM 0x1000
#define FMODE_UNSIGNED_OFFSET 0x2000
#define FMODE_PATH 0x4000
#define FMODE_ATOMIC_POS 0x8000
#define FMODE_WRITER 0x10000
#define FMODE_CAN_READ 0x20000
#define FMODE_CAN_WRITE 0x40000
#define FMODE_OPENED 0x80000
#define FMODE_CREATED 0x100000
#define FMODE_STREAM 0x200000
#define FMODE_NOWAIT 0x8000000
#endif
#ifndef MINORBITS /* linux/kdev_t.h: the kernel's dev_t, not user space's */
#define MINORBITS 20
#define MINORMASK ((1U << MINORBITS) - 1)
#define MAJOR(dev) ((unsigned int)((dev) >> MINORBITS))
#define MINOR(dev) ((unsigned int)((dev) & MINORMASK))
#define MKDEV(ma, mi) (((ma) << MINORBITS) | (mi))
#endif
#ifndef DISK_NAME_LEN
#define DISK_NAME_LEN 32
#endif
#ifndef BDEVNAME_SIZE
#define BDEVNAME_SIZE 32
#endif

/* ---- Block requests: linux/blk_types.h. REQ_OP_* are enum req_op in 6.x BTF; the flag
 * bits come from enum req_flag_bits, so each flag is right for the running kernel. ---- */
#ifndef REQ_OP_BITS
#define REQ_OP_BITS 8
#endif
#ifndef REQ_OP_MASK
#define REQ_OP_MASK ((1 << REQ_OP_BITS) - 1)
#endif
#ifndef REQ_FAILFAST_DEV
#define REQ_FAILFAST_DEV (1ULL << __REQ_FAILFAST_DEV)
#define REQ_FAILFAST_TRANSPORT (1ULL << __REQ_FAILFAST_TRANSPORT)
#define REQ_FAILFAST_DRIVER (1ULL << __REQ_FAILFAST_DRIVER)
#define REQ_SYNC (1ULL << __REQ_SYNC)
#define REQ_META (1ULL << __REQ_META)
#define REQ_PRIO (1ULL << __REQ_PRIO)
#define REQ_NOMERGE (1ULL << __REQ_NOMERGE)
#define REQ_IDLE (1ULL << __REQ_IDLE)
#define REQ_INTEGRITY (1ULL << __REQ_INTEGRITY)
#define REQ_FUA (1ULL << __REQ_FUA)
#define REQ_PREFLUSH (1ULL << __REQ_PREFLUSH)
#define REQ_RAHEAD (1ULL << __REQ_RAHEAD)
#define REQ_BACKGROUND (1ULL << __REQ_BACKGROUND)
#define REQ_NOWAIT (1ULL << __REQ_NOWAIT)
#define REQ_POLLED (1ULL << __REQ_POLLED)
#define REQ_ALLOC_CACHE (1ULL << __REQ_ALLOC_CACHE)
#define REQ_SWAP (1ULL << __REQ_SWAP)
#define REQ_DRV (1ULL << __REQ_DRV)
#define REQ_FS_PRIVATE (1ULL << __REQ_FS_PRIVATE)
#define REQ_NOUNMAP (1ULL << __REQ_NOUNMAP)
#define REQ_FAILFAST_MASK (REQ_FAILFAST_DEV | REQ_FAILFAST_TRANSPORT | REQ_FAILFAST_DRIVER)
#define REQ_NOMERGE_FLAGS (REQ_NOMERGE | REQ_PREFLUSH | REQ_FUA)
#endif
#ifndef SECTOR_SHIFT
#define SECTOR_SHIFT 9
#define SECTOR_SIZE (1 << SECTOR_SHIFT)
#endif

/* ---- Allocation flags: linux/gfp_types.h, from the kernel's ___GFP_*_BIT enum (6.9+
 * BTF has it; older kernels name no bits, and a program that uses GFP_* there gets an
 * error naming the missing enum) -------------------------------------------------------- */
#ifndef __GFP_DMA
#define __GFP_DMA (1U << ___GFP_DMA_BIT)
#define __GFP_HIGHMEM (1U << ___GFP_HIGHMEM_BIT)
#define __GFP_DMA32 (1U << ___GFP_DMA32_BIT)
#define __GFP_MOVABLE (1U << ___GFP_MOVABLE_BIT)
#define __GFP_RECLAIMABLE (1U << ___GFP_RECLAIMABLE_BIT)
#define __GFP_HIGH (1U << ___GFP_HIGH_BIT)
#define __GFP_IO (1U << ___GFP_IO_BIT)
#define __GFP_FS (1U << ___GFP_FS_BIT)
#define __GFP_ZERO (1U << ___GFP_ZERO_BIT)
#define __GFP_DIRECT_RECLAIM (1U << ___GFP_DIRECT_RECLAIM_BIT)
#define __GFP_KSWAPD_RECLAIM (1U << ___GFP_KSWAPD_RECLAIM_BIT)
#define __GFP_WRITE (1U << ___GFP_WRITE_BIT)
#define __GFP_NOWARN (1U << ___GFP_NOWARN_BIT)
#define __GFP_RETRY_MAYFAIL (1U << ___GFP_RETRY_MAYFAIL_BIT)
#define __GFP_NOFAIL (1U << ___GFP_NOFAIL_BIT)
#define __GFP_NORETRY (1U << ___GFP_NORETRY_BIT)
#define __GFP_MEMALLOC (1U << ___GFP_MEMALLOC_BIT)
#define __GFP_COMP (1U << ___GFP_COMP_BIT)
#define __GFP_NOMEMALLOC (1U << ___GFP_NOMEMALLOC_BIT)
#define __GFP_HARDWALL (1U << ___GFP_HARDWALL_BIT)
#define __GFP_THISNODE (1U << ___GFP_THISNODE_BIT)
#define __GFP_ACCOUNT (1U << ___GFP_ACCOUNT_BIT)
#define __GFP_RECLAIM (__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM)
#define GFP_ATOMIC (__GFP_HIGH | __GFP_KSWAPD_RECLAIM)
#define GFP_KERNEL (__GFP_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_KERNEL_ACCOUNT (GFP_KERNEL | __GFP_ACCOUNT)
#define GFP_NOWAIT (__GFP_KSWAPD_RECLAIM | __GFP_NOWARN)
#define GFP_NOIO (__GFP_RECLAIM)
#define GFP_NOFS (__GFP_RECLAIM | __GFP_IO)
#define GFP_USER (__GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL)
#define GFP_DMA __GFP_DMA
#define GFP_DMA32 __GFP_DMA32
#define GFP_HIGHUSER (GFP_USER | __GFP_HIGHMEM)
#define GFP_HIGHUSER_MOVABLE (GFP_HIGHUSER | __GFP_MOVABLE)
#endif

/* ---- Networking: linux/socket.h, uapi/linux/in.h, if_ether.h, tcp.h ------------------ */
#ifndef AF_UNSPEC
#define AF_UNSPEC 0
#endif
#ifndef AF_UNIX
#define AF_UNIX 1
#endif
#ifndef AF_LOCAL
#define AF_LOCAL 1
#endif
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef AF_NETLINK
#define AF_NETLINK 16
#define AF_PACKET 17
#endif
#ifndef PF_INET
#define PF_UNSPEC AF_UNSPEC
#define PF_UNIX AF_UNIX
#define PF_INET AF_INET
#define PF_INET6 AF_INET6
#define PF_NETLINK AF_NETLINK
#define PF_PACKET AF_PACKET
#endif
#ifndef ETH_ALEN
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ETH_ZLEN 60
#define ETH_DATA_LEN 1500
#define ETH_FRAME_LEN 1514
#endif
#ifndef ETH_P_IP
#define ETH_P_IP 0x0800
#endif
#ifndef ETH_P_IPV6
#define ETH_P_IPV6 0x86DD
#endif
#ifndef ETH_P_ALL
#define ETH_P_LOOP 0x0060
#define ETH_P_ARP 0x0806
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define ETH_P_MPLS_UC 0x8847
#define ETH_P_ALL 0x0003
#endif
#ifndef INADDR_ANY
#define INADDR_ANY ((unsigned long int)0x00000000)
#define INADDR_BROADCAST ((unsigned long int)0xffffffff)
#define INADDR_LOOPBACK 0x7f000001
#endif
/* linux/skbuff.h's accessors of the receive queue (static inlines in the kernel). */
#ifndef skb_rx_queue_recorded
#define skb_rx_queue_recorded(skb) ((skb)->queue_mapping != 0)
#define skb_get_rx_queue(skb) ((u16)((skb)->queue_mapping - 1))
#define skb_get_queue_mapping(skb) ((skb)->queue_mapping)
#endif
#ifndef TCP_SKB_CB
#define TCP_SKB_CB(__skb) ((struct tcp_skb_cb *)&((__skb)->cb[0]))
#endif
#ifndef TCPHDR_FIN
#define TCPHDR_FIN 0x01
#define TCPHDR_SYN 0x02
#define TCPHDR_RST 0x04
#define TCPHDR_PSH 0x08
#define TCPHDR_ACK 0x10
#define TCPHDR_URG 0x20
#define TCPHDR_ECE 0x40
#define TCPHDR_CWR 0x80
#endif
#ifndef IP_MF
#define IP_CE 0x8000
#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#endif
#ifndef IFNAMSIZ
#define IFNAMSIZ 16
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef SOL_SOCKET
#define SOL_SOCKET 1
#define SOL_IP 0
#define SOL_TCP 6
#define SOL_UDP 17
#define SOL_IPV6 41
#endif
#ifndef SCM_RIGHTS
#define SCM_RIGHTS 0x01
#define SCM_CREDENTIALS 0x02
#define SCM_SECURITY 0x03
#endif
#ifndef MSG_PEEK
#define MSG_OOB 1
#define MSG_PEEK 2
#define MSG_DONTROUTE 4
#define MSG_CTRUNC 8
#define MSG_TRUNC 0x20
#define MSG_DONTWAIT 0x40
#define MSG_EOR 0x80
#define MSG_WAITALL 0x100
#define MSG_NOSIGNAL 0x4000
#define MSG_MORE 0x8000
#endif

/* ---- linux/scatterlist.h: the low bits of page_link mark chain links and the end ----- */
#ifndef SG_CHAIN
#define SG_CHAIN 0x01UL
#define SG_END 0x02UL
#define SG_PAGE_LINK_MASK (SG_CHAIN | SG_END)
#define sg_is_chain(sg) ((sg)->page_link & SG_CHAIN)
#define sg_is_last(sg) ((sg)->page_link & SG_END)
#define sg_chain_ptr(sg) ((struct scatterlist *)((sg)->page_link & ~SG_PAGE_LINK_MASK))
#endif

/* ---- Time: linux/time64.h, vdso/time64.h, jiffies ------------------------------------ */
#ifndef NSEC_PER_SEC
#define MSEC_PER_SEC 1000L
#define USEC_PER_MSEC 1000L
#define NSEC_PER_USEC 1000L
#define NSEC_PER_MSEC 1000000L
#define USEC_PER_SEC 1000000L
#define NSEC_PER_SEC 1000000000L
#endif

/* ---- Tracepoint __data_loc fields, as bcc's helpers.h reads them (args->data_loc_NAME
 * holds the offset from args in its low 16 bits, the length in the high 16) ----------- */
#ifndef TP_DATA_LOC_READ_CONST
#define TP_DATA_LOC_READ_CONST(dst, field, length)                                 \
	do {                                                                       \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;         \
		bpf_probe_read_kernel((void *)dst, length, (char *)args + __offset); \
	} while (0)
#define TP_DATA_LOC_READ(dst, field)                                               \
	do {                                                                       \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;         \
		unsigned short __length = args->data_loc_##field >> 16;            \
		bpf_probe_read_kernel((void *)dst, __length, (char *)args + __offset); \
	} while (0)
#define TP_DATA_LOC_READ_STR(dst, field, length)                                   \
	do {                                                                       \
		unsigned short __offset = args->data_loc_##field & 0xFFFF;         \
		bpf_probe_read_kernel_str((void *)dst, length, (char *)args + __offset); \
	} while (0)
#endif

#endif
