"""What the bcc sides of the benchmarks share (table_read_bcc.py, ringbuf_drain_bcc.py).

Each runs as its own process under Debian's /usr/bin/python3 (where python3-bpfcc installs
bcc), opens the map the Lua benchmark made by its kernel id, and answers the benchmark on
file descriptor 3 (a FIFO that bench.lua's bcc_helper opens): first "ready", or
"unavailable REASON" when bcc cannot run here.

bcc compiles every program against the running kernel's headers, and this machine has none.
bcc also needs a program of its own before it will build a table object, so we compile the
smallest one (a single table of the benchmark map's type, no kernel includes) against a
stand-in header tree: the handful of kernel headers that bcc's own helpers.h includes, made
here from the C library's UAPI headers. bcc's table class then works on the benchmark's map
through its file descriptor."""
import ctypes as ct
import os
import shutil
import sys
import tempfile


def connect():
    """The results FIFO (descriptor 3), line buffered. Kept from bcc's child processes, so
    that the benchmark reads end of file as soon as this process exits."""
    os.set_inheritable(3, False)
    return os.fdopen(3, "w", buffering=1)


def unavailable(results, reason):
    """Tells the benchmark that bcc cannot run, and why, and exits."""
    results.write("unavailable %s\n" % reason)
    sys.exit(0)


def stand_in_kernel_tree():
    """A directory bcc accepts as kernel sources (BCC_KERNEL_SOURCE) for a program that uses
    no kernel types: kconfig, the kernel's integer typedefs, PAGE_SIZE, and the UAPI headers.
    linux/bpf.h is left empty: bcc brings its own copy, which the installed one would redefine."""
    root = tempfile.mkdtemp(prefix="bpflua-bcc-kernel-")
    files = {
        "include/linux/kconfig.h": "#define CONFIG_BPF_SYSCALL 1\n",
        "include/linux/types.h": (
            "#include <uapi/linux/types.h>\n"
            "typedef __u8 u8; typedef __s8 s8; typedef __u16 u16; typedef __s16 s16;\n"
            "typedef __u32 u32; typedef __s32 s32; typedef __u64 u64; typedef __s64 s64;\n"
            "typedef __SIZE_TYPE__ size_t; typedef __UINTPTR_TYPE__ uintptr_t;\n"
            "typedef _Bool bool;\n"),
        "include/linux/log2.h": "",
        "arch/x86/include/asm/page.h": "#define PAGE_SIZE 4096\n",
        "include/uapi/linux/bpf.h": "",
    }
    for path, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, path)), exist_ok=True)
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    uapi = os.path.join(root, "include/uapi/linux")
    for name in os.listdir("/usr/include/linux"):
        if not os.path.exists(os.path.join(uapi, name)):
            os.symlink(os.path.join("/usr/include/linux", name), os.path.join(uapi, name))
    os.symlink("/usr/include/asm-generic", os.path.join(root, "include/uapi/asm-generic"))
    os.symlink("/usr/include/x86_64-linux-gnu", os.path.join(root, "arch/x86/include/uapi"))
    return root


def compile_program(results, text):
    """bcc.BPF(text=text), compiled against the stand-in tree; on failure reports the reason
    (bcc's exception and the compiler's first error line) and exits."""
    try:
        import bcc
    except ImportError as e:
        unavailable(results, "python3-bpfcc is not installed: %s" % e)
    tree = stand_in_kernel_tree()
    os.environ["BCC_KERNEL_SOURCE"] = tree
    # bcc prints the compiler's errors on stderr; keep them for the reason line.
    log_path = os.path.join(tree, "bcc.log")
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT)
    saved_stderr = os.dup(2)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    try:
        return bcc.BPF(text=text)
    except Exception as e:
        with open(log_path) as f:
            lines = [l.strip() for l in f if l.strip() and "modprobe" not in l]
        unavailable(results, "%s%s" % (e, ": " + lines[0] if lines else ""))
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        shutil.rmtree(tree)


def table_on_map(results, text, name, map_id):
    """Compiles text, which declares a table called name of the same type as the benchmark's
    map, and returns (the bcc.BPF, bcc's table class for that type on the benchmark's map,
    opened by its kernel id). Reports why and exits when either step fails."""
    b = compile_program(results, text)
    import bcc.table
    libbpf = ct.CDLL("libbpf.so.1", use_errno=True)
    fd = libbpf.bpf_map_get_fd_by_id(ct.c_uint32(map_id))
    if fd < 0:
        unavailable(results, "cannot open map id %d: %s" % (map_id, os.strerror(ct.get_errno())))
    own = b[name]
    # Table() picks the class from bcc's own table's type; the fd makes it read ours.
    return b, bcc.table.Table(b, own.map_id, fd, own.Key, own.Leaf, name.encode())
