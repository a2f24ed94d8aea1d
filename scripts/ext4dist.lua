-- ext4dist.lua: latency of ext4's reads, writes, opens and fsyncs as a histogram per
-- operation, as bcc's ext4dist.
-- Probes: kprobes and kretprobes on ext4_file_read_iter (generic_file_read_iter on kernels
-- before 4.10, filtered to ext4's files), ext4_file_write_iter, ext4_file_open and
-- ext4_sync_file, as bcc. On a kernel without kprobes, the syscalls that reach them on ext4's
-- files (syscalls tracepoints: read, pread64, readv, preadv; the writes alike; opens; fsync,
-- fdatasync), timed from the syscall's entry to its return.
local BPF = require("bpflua")
local args = require("bpflua.args")
local intervals = require("bpflua.intervals")
local opts = args.parse(arg, {
  usage = "ext4dist.lua [-h] [-T] [-m] [-p PID] [interval] [count]",
  description = "Summarize ext4 operation latency",
  {"-T", "--notimestamp", "notimestamp", "flag", "don't include timestamp on interval output"},
  {"-m", "--milliseconds", "milliseconds", "flag", "output in milliseconds"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    ext4dist.lua            # show operation latency as a histogram
    ext4dist.lua -p 181     # trace PID 181 only
    ext4dist.lua 1 10       # print 1 second summaries, 10 times
    ext4dist.lua -m 5       # 5s summaries, milliseconds
Probes ext4's file operations with kprobes and kretprobes, as bcc does; on a kernel without
kprobes, the syscalls that reach them on ext4's files (reads, writes, opens, fsyncs), timed
from entry to return.]],
})

local ext4_syscalls = require("bpflua.ext4_syscalls")
local has_kprobes = ext4_syscalls.has_kprobes
local read_fn, ext4_file_operations = ext4_syscalls.read_target()
local read_entry = read_fn == "generic_file_read_iter" and "trace_read_entry" or "trace_entry"

-- Without kprobes: each syscall's entry starts the clock for an ext4 file, its return stops it.
local syscall_probes = ""
if not has_kprobes then
  syscall_probes = ext4_syscalls.probes(function(op, syscall, kind)
    if kind == "open" then
      return string.format("TRACEPOINT_PROBE(syscalls, sys_enter_%s) { return start_timer(); }\n" ..
        "TRACEPOINT_PROBE(syscalls, sys_exit_%s) { return open_return(args->ret); }", syscall, syscall)
    end
    return string.format("TRACEPOINT_PROBE(syscalls, sys_enter_%s) { return fd_entry(args->fd); }\n" ..
      "TRACEPOINT_PROBE(syscalls, sys_exit_%s) { return trace_return(%s); }", syscall, syscall,
      ext4_syscalls.literal(op, 8))
  end)
end

local b = BPF{text = require("bpflua.fd_file").c .. ext4_syscalls.c .. [[
  #define OP_NAME_LEN 8
  typedef struct dist_key { char op[OP_NAME_LEN]; u64 slot; } dist_key_t;
  BPF_HASH(start, u32, u64, 10240);
  BPF_HISTOGRAM(dist, dist_key_t);

  static int start_timer(void)
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (PID && (pid_tgid >> 32) != PID) return 0;
    u32 tid = pid_tgid;
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
  }

  int trace_entry(struct pt_regs *ctx) { return start_timer(); }

  int trace_read_entry(struct pt_regs *ctx, struct kiocb *iocb)
  {
    if ((u64)BPF_CORE_READ(iocb, ki_filp, f_op) != EXT4_FILE_OPERATIONS) return 0;
    return start_timer();
  }

  static int trace_return(const char *op)
  {
    u32 tid = bpf_get_current_pid_tgid();
    u64 *tsp = start.lookup(&tid);
    if (!tsp) return 0;   /* missed the start, or filtered */
    u64 delta = bpf_ktime_get_ns() - *tsp;
    start.delete(&tid);
    if ((s64)delta < 0) return 0;
    dist_key_t key = {.slot = bpf_log2l(delta / FACTOR)};
    __builtin_memcpy(&key.op, op, sizeof(key.op));
    dist.atomic_increment(key);
    return 0;
  }

  int trace_read_return(struct pt_regs *ctx) { return trace_return("read\0\0\0"); }
  int trace_write_return(struct pt_regs *ctx) { return trace_return("write\0\0"); }
  int trace_open_return(struct pt_regs *ctx) { return trace_return("open\0\0\0"); }
  int trace_fsync_return(struct pt_regs *ctx) { return trace_return("fsync\0\0"); }

  static int fd_entry(long fd) { return is_ext4(file_of_fd(fd)) ? start_timer() : 0; }

  static int open_return(long fd)
  {
    if (fd >= 0 && is_ext4(file_of_fd(fd)))
      return trace_return("open\0\0\0");
    u32 tid = bpf_get_current_pid_tgid();
    start.delete(&tid);
    return 0;
  }
]] .. syscall_probes, cflags = {"-DPID=" .. (opts.pid or 0), "-DFACTOR=" .. (opts.milliseconds and 1000000 or 1000),
              "-DEXT4_FILE_OPERATIONS=" .. ext4_file_operations}}

if has_kprobes then
  ext4_syscalls.attach_kprobes(b, "ext4dist.lua", read_fn, {read = read_entry, write = "trace_entry",
    open = "trace_entry", fsync = "trace_entry"})
end

local label = opts.milliseconds and "msecs" or "usecs"
local dist = b["dist"]
local function report()
  print()
  if opts.interval and not opts.notimestamp then
    print(os.date("%H:%M:%S:"))
  end
  dist:print_log2_hist(label, "operation")
  dist:clear()
end

io.stdout:setvbuf("line")
print("Tracing ext4 operation latency... Hit Ctrl-C to end.")
intervals.run{interval = opts.interval, count = opts.count, report = report}
