-- ext4slower.lua: ext4 reads, writes, opens and fsyncs slower than a threshold, with the
-- file's name, as bcc's ext4slower.
-- Probes: kprobes and kretprobes on ext4_file_read_iter (generic_file_read_iter on kernels
-- before 4.10, filtered to ext4's files), ext4_file_write_iter, ext4_file_open and
-- ext4_sync_file, as bcc. On a kernel without kprobes, the syscalls that reach them on ext4's
-- files (syscalls tracepoints: read, pread64, readv, preadv; the writes alike; opens; fsync,
-- fdatasync), timed from the syscall's entry to its return.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "ext4slower.lua [-h] [-j] [-p PID] [min_ms]",
  description = "Trace common ext4 file operations slower than a threshold",
  {"-j", "--csv", "csv", "flag", "just print fields: comma-separated values"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  positional = {{"min_ms", "number", "minimum I/O duration to trace, in ms (default 10)"}},
  examples = [[examples:
    ext4slower.lua             # trace operations slower than 10 ms (default)
    ext4slower.lua 1           # trace operations slower than 1 ms
    ext4slower.lua -j 1        # ... 1 ms, parsable output (csv)
    ext4slower.lua 0           # trace all operations (warning: verbose)
    ext4slower.lua -p 185      # trace PID 185 only
Probes ext4's file operations with kprobes and kretprobes, as bcc does; on a kernel without
kprobes, the syscalls that reach them on ext4's files (reads, writes, opens, fsyncs), timed
from entry to return.]],
})
local min_ms = opts.min_ms or 10
ffi.cdef("int getpid(void);")

local ext4_syscalls = require("bpflua.ext4_syscalls")
local has_kprobes = ext4_syscalls.has_kprobes
local read_fn, ext4_file_operations = ext4_syscalls.read_target()

-- Without kprobes: each syscall's entry starts the clock for an ext4 file (at the file's
-- position, or the one the syscall gives), its return stops it.
local OP_TYPES = {read = 0, write = 1, open = 2, fsync = 3}
local syscall_probes = ""
if not has_kprobes then
  syscall_probes = ext4_syscalls.probes(function(op, syscall, kind, pos)
    if kind == "open" then
      return string.format("TRACEPOINT_PROBE(syscalls, sys_enter_%s) { return open_entry(); }\n" ..
        "TRACEPOINT_PROBE(syscalls, sys_exit_%s) { return open_return(args->ret); }", syscall, syscall)
    end
    return string.format("TRACEPOINT_PROBE(syscalls, sys_enter_%s) { return fd_entry(args->fd, %s); }\n" ..
      "TRACEPOINT_PROBE(syscalls, sys_exit_%s) { return emit(%s, %d); }", syscall,
      op == "fsync" and "0" or pos and "args->" .. pos or "-1", syscall, op == "fsync" and "0" or "args->ret",
      OP_TYPES[op])
  end)
end

local b = BPF{text = require("bpflua.fd_file").c .. ext4_syscalls.c .. [[
  struct val_t { u64 ts; u64 offset; struct file *fp; };
  struct data_t {
    u64 ts_us, type, offset, delta_us;
    s64 size;
    u32 pid;
    char task[TASK_COMM_LEN];
    char file[DNAME_INLINE_LEN];
  };
  BPF_HASH(entryinfo, u64, struct val_t, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  static int traced(u64 id)
  {
    if (PID && (id >> 32) != PID) return 0;
    return (id >> 32) != SELF;   /* its own output, were it a file on ext4, would loop */
  }

  static int entry(struct file *fp, u64 offset)
  {
    u64 id = bpf_get_current_pid_tgid();
    if (!traced(id)) return 0;
    struct val_t val = {.ts = bpf_ktime_get_ns(), .offset = offset, .fp = fp};
    if (fp)
      entryinfo.update(&id, &val);
    return 0;
  }

  int trace_read_entry(struct pt_regs *ctx, struct kiocb *iocb)
  {
    struct file *fp = BPF_CORE_READ(iocb, ki_filp);
    if (EXT4_FILE_OPERATIONS && (u64)BPF_CORE_READ(fp, f_op) != EXT4_FILE_OPERATIONS) return 0;
    return entry(fp, BPF_CORE_READ(iocb, ki_pos));
  }

  int trace_write_entry(struct pt_regs *ctx, struct kiocb *iocb)
  {
    return entry(BPF_CORE_READ(iocb, ki_filp), BPF_CORE_READ(iocb, ki_pos));
  }

  int trace_open_entry(struct pt_regs *ctx, struct inode *inode, struct file *file)
  {
    return entry(file, 0);
  }

  int trace_fsync_entry(struct pt_regs *ctx, struct file *file)
  {
    return entry(file, 0);
  }

  static int emit(long size, int type)
  {
    u64 id = bpf_get_current_pid_tgid();
    struct val_t *valp = entryinfo.lookup(&id);
    if (!valp) return 0;   /* missed the entry, or filtered */
    u64 ts = bpf_ktime_get_ns();
    u64 delta_us = (ts - valp->ts) / 1000;
    struct file *fp = valp->fp;
    u64 offset = valp->offset;
    entryinfo.delete(&id);
    if (MIN_US && delta_us <= MIN_US) return 0;
    struct dentry *de = BPF_CORE_READ(fp, f_path.dentry);
    if (BPF_CORE_READ(de, d_name.len) == 0) return 0;
    struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
    if (!data) return 0;
    data->type = type;
    data->size = size;
    data->delta_us = delta_us;
    data->pid = id >> 32;
    data->ts_us = ts / 1000;
    data->offset = offset;
    bpf_get_current_comm(&data->task, sizeof(data->task));
    bpf_probe_read_kernel_str(&data->file, sizeof(data->file), BPF_CORE_READ(de, d_name.name));
    events.ringbuf_submit(data, 0);
    return 0;
  }

  int trace_read_return(struct pt_regs *ctx) { return emit(PT_REGS_RC(ctx), 0); }
  int trace_write_return(struct pt_regs *ctx) { return emit(PT_REGS_RC(ctx), 1); }
  int trace_open_return(struct pt_regs *ctx) { return emit(PT_REGS_RC(ctx), 2); }
  int trace_fsync_return(struct pt_regs *ctx) { return emit(PT_REGS_RC(ctx), 3); }

  /* offset < 0: the file's position */
  static int fd_entry(long fd, long offset)
  {
    struct file *fp = file_of_fd(fd);
    if (!is_ext4(fp)) return 0;
    return entry(fp, offset >= 0 ? offset : BPF_CORE_READ(fp, f_pos));
  }

  /* the file is known when the open returns */
  static int open_entry(void)
  {
    u64 id = bpf_get_current_pid_tgid();
    if (!traced(id)) return 0;
    struct val_t val = {.ts = bpf_ktime_get_ns()};
    entryinfo.update(&id, &val);
    return 0;
  }

  static int open_return(long fd)
  {
    u64 id = bpf_get_current_pid_tgid();
    struct val_t *valp = entryinfo.lookup(&id);
    if (!valp) return 0;
    struct file *fp = fd >= 0 ? file_of_fd(fd) : NULL;
    if (!is_ext4(fp)) {
      entryinfo.delete(&id);
      return 0;
    }
    valp->fp = fp;
    return emit(0, 2);
  }
]] .. syscall_probes, cflags = {"-DPID=" .. (opts.pid or 0), "-DSELF=" .. ffi.C.getpid(),
              "-DMIN_US=" .. math.floor(min_ms * 1000),
              "-DEXT4_FILE_OPERATIONS=" .. ext4_file_operations}}

if has_kprobes then
  ext4_syscalls.attach_kprobes(b, "ext4slower.lua", read_fn, {read = "trace_read_entry",
    write = "trace_write_entry", open = "trace_open_entry", fsync = "trace_fsync_entry"})
end

io.stdout:setvbuf("line")
if opts.csv then
  print("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE")
else
  print(min_ms == 0 and "Tracing ext4 operations" or
    string.format("Tracing ext4 operations slower than %d ms", min_ms))
  print(string.format("%-8s %-14s %-6s %1s %-7s %-8s %7s %s", "TIME", "COMM", "PID", "T", "BYTES",
    "OFF_KB", "LAT(ms)", "FILENAME"))
end

local TYPES = {[0] = "R", "W", "O", "S"}
local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local kind = TYPES[tonumber(e.type)] or "R"
  if opts.csv then
    print(string.format("%d,%s,%d,%s,%d,%d,%d,%s", tonumber(e.ts_us), ffi.string(e.task), e.pid, kind,
      tonumber(e.size), tonumber(e.offset), tonumber(e.delta_us), ffi.string(e.file)))
    return
  end
  print(string.format("%-8s %-14.14s %-6s %1s %-7s %-8d %7.2f %s", os.date("%H:%M:%S"),
    ffi.string(e.task), e.pid, kind, tonumber(e.size), math.floor(tonumber(e.offset) / 1024),
    tonumber(e.delta_us) / 1000, ffi.string(e.file)))
end)
while true do
  b:ring_buffer_poll()
end
