"""bcc's side of table_read.lua: times bcc Python's items() (and its items_lookup_batch())
over the map the benchmark fills, opened by its kernel id, one round per "round" line on
stdin. It answers through the FIFO given: first "ready", or "unavailable REASON" when bcc
cannot run here; then per round "NS_ITEMS SUM_ITEMS NS_BATCH SUM_BATCH N".

    /usr/bin/python3 table_read_bcc.py MAP_ID MAX_ENTRIES RESULT_FIFO

bcc compiles every program against the running kernel's headers, and this machine has none.
A bcc program needs a table of its own for bcc to build a Table object, so we compile the
smallest one (a BPF_HASH, no kernel includes) against a stand-in header tree: the handful of
kernel headers that bcc's own helpers.h includes, made here from the C library's UAPI headers.
The Table then reads the benchmark's map through its file descriptor."""
import ctypes as ct
import os
import shutil
import sys
import tempfile
import time

map_id, max_entries, fifo_path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
# Opened first, so the benchmark (blocked opening the other end) learns of any failure.
results = open(fifo_path, "w", buffering=1)


def unavailable(reason):
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


try:
    import bcc
    import bcc.table
except ImportError as e:
    unavailable("python3-bpfcc is not installed: %s" % e)

tree = stand_in_kernel_tree()
os.environ["BCC_KERNEL_SOURCE"] = tree
# bcc prints the compiler's errors on stderr; keep them for the reason line.
log_fd = os.open(os.path.join(tree, "bcc.log"), os.O_WRONLY | os.O_CREAT)
saved_stderr = os.dup(2)
os.dup2(log_fd, 2)
try:
    b = bcc.BPF(text="BPF_HASH(table, u32, u64, 1);")
except Exception as e:
    os.dup2(saved_stderr, 2)
    with open(os.path.join(tree, "bcc.log")) as f:
        lines = [l.strip() for l in f if l.strip() and "modprobe" not in l]
    shutil.rmtree(tree)
    unavailable("%s%s" % (e, ": " + lines[0] if lines else ""))
os.dup2(saved_stderr, 2)
shutil.rmtree(tree)

libbpf = ct.CDLL("libbpf.so.1", use_errno=True)
fd = libbpf.bpf_map_get_fd_by_id(ct.c_uint32(map_id))
if fd < 0:
    unavailable("cannot open map id %d: %s" % (map_id, os.strerror(ct.get_errno())))
own = b["table"]
# bcc's own Table class (a HashTable here), on the benchmark's map.
table = bcc.table.Table(b, own.map_id, fd, own.Key, own.Leaf, b"table")
# items_lookup_batch reads into arrays of max_entries, which bcc took from its own table.
table.max_entries = max_entries
results.write("ready\n")

for line in sys.stdin:
    if line.strip() != "round":
        break
    start = time.perf_counter_ns()
    total_items = n = 0
    for _, v in table.items():
        total_items += v.value
        n += 1
    items_ns = time.perf_counter_ns() - start
    start = time.perf_counter_ns()
    total_batch = 0
    for _, v in table.items_lookup_batch():
        total_batch += v  # ctypes gives the array's integers as Python ints
    batch_ns = time.perf_counter_ns() - start
    results.write("%d %d %d %d %d\n" % (items_ns, total_items, batch_ns, total_batch, n))
