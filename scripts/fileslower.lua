-- fileslower.lua: synchronous file reads and writes slower than a threshold, with the file's
-- name, as bcc's fileslower.
-- Probes: kprobes and kretprobes on vfs_read and vfs_write (__vfs_read/__vfs_write where a
-- kernel has them), as bcc. On a kernel without kprobes, the entries and returns of read(2),
-- pread64(2), write(2) and pwrite64(2) (syscalls tracepoints), the callers of vfs_read and
-- vfs_write from user space, with the file behind their descriptor.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local clock = require("bpflua.clock")
local opts = args.parse(arg, {
  usage = "fileslower.lua [-h] [-p PID] [-a] [min_ms]",
  description = "Trace slow synchronous file reads and writes",
  {"-p", "--pid", "tgid", "number", "trace this PID only", metavar = "PID"},
  {"-a", "--all-files", "all_files", "flag", "include non-regular file types (sockets, FIFOs, etc)"},
  positional = {{"min_ms", "number", "minimum I/O duration to trace, in ms (default 10)"}},
  examples = [[examples:
    fileslower.lua             # trace sync file I/O slower than 10 ms (default)
    fileslower.lua 1           # trace sync file I/O slower than 1 ms
    fileslower.lua -p 185      # trace PID 185 only
Probes vfs_read and vfs_write with kprobes and kretprobes, as bcc does; on a kernel without
kprobes, the read, pread64, write and pwrite64 syscalls (the user-space callers of vfs_read and
vfs_write).]],
})
local min_ms = opts.min_ms or 10
ffi.cdef("int getpid(void);")
local DNAME_INLINE_LEN = 32

local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil
local syscall_probes = has_kprobes and "" or [[
  static int syscall_entry(long fd, size_t count, int is_read)
  {
    struct file *file = file_of_fd(fd);
    if (!file) return 0;   /* EBADF never reaches vfs_read */
    if (!(is_read ? (void *)BPF_CORE_READ(file, f_op, read_iter) : (void *)BPF_CORE_READ(file, f_op, write_iter)))
      return 0;
    return trace_rw_entry(file, count);
  }
  TRACEPOINT_PROBE(syscalls, sys_enter_read) { return syscall_entry(args->fd, args->count, 1); }
  TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { return syscall_entry(args->fd, args->count, 1); }
  TRACEPOINT_PROBE(syscalls, sys_enter_write) { return syscall_entry(args->fd, args->count, 0); }
  TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { return syscall_entry(args->fd, args->count, 0); }
  TRACEPOINT_PROBE(syscalls, sys_exit_read) { return trace_rw_return(0); }
  TRACEPOINT_PROBE(syscalls, sys_exit_pread64) { return trace_rw_return(0); }
  TRACEPOINT_PROBE(syscalls, sys_exit_write) { return trace_rw_return(1); }
  TRACEPOINT_PROBE(syscalls, sys_exit_pwrite64) { return trace_rw_return(1); }
]]

local b = BPF{text = require("bpflua.fd_file").c .. [[
  struct val_t {
    u32 sz;
    u64 ts;
    u32 name_len;
    char name[DNAME_INLINE_LEN];   /* d_name may be longer: the length says so */
    char comm[TASK_COMM_LEN];
  };
  struct data_t {
    u32 mode, pid, sz;
    u64 delta_us;
    u32 name_len;
    char name[DNAME_INLINE_LEN];
    char comm[TASK_COMM_LEN];
  };
  BPF_HASH(entryinfo, u32, struct val_t, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  static int trace_rw_entry(struct file *file, size_t count)
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (TGID && (pid_tgid >> 32) != TGID) return 0;
    if ((pid_tgid >> 32) == SELF) return 0;   /* its own output, were it a file, would loop */
    u32 tid = pid_tgid;
    struct dentry *de = BPF_CORE_READ(file, f_path.dentry);
    int mode = BPF_CORE_READ(file, f_inode, i_mode);
    u32 len = BPF_CORE_READ(de, d_name.len);
    if (len == 0 || (!ALL_FILES && !S_ISREG(mode))) return 0;   /* I/O without a file name */
    struct val_t val = {.sz = count, .ts = bpf_ktime_get_ns(), .name_len = len};
    bpf_probe_read_kernel_str(&val.name, sizeof(val.name), BPF_CORE_READ(de, d_name.name));
    bpf_get_current_comm(&val.comm, sizeof(val.comm));
    entryinfo.update(&tid, &val);
    return 0;
  }

  /* files without read_iter/write_iter do their own (possibly asynchronous) I/O */
  int trace_read_entry(struct pt_regs *ctx, struct file *file, char *buf, size_t count)
  {
    if (!BPF_CORE_READ(file, f_op, read_iter)) return 0;
    return trace_rw_entry(file, count);
  }

  int trace_write_entry(struct pt_regs *ctx, struct file *file, char *buf, size_t count)
  {
    if (!BPF_CORE_READ(file, f_op, write_iter)) return 0;
    return trace_rw_entry(file, count);
  }

  static int trace_rw_return(u32 mode)
  {
    u32 tid = bpf_get_current_pid_tgid();
    struct val_t *valp = entryinfo.lookup(&tid);
    if (!valp) return 0;
    u64 delta_us = (bpf_ktime_get_ns() - valp->ts) / 1000;
    if (delta_us >= MIN_US) {
      struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
      if (data) {
        data->mode = mode;
        data->pid = tid;
        data->sz = valp->sz;
        data->delta_us = delta_us;
        data->name_len = valp->name_len;
        __builtin_memcpy(data->name, valp->name, sizeof(data->name));
        __builtin_memcpy(data->comm, valp->comm, sizeof(data->comm));
        events.ringbuf_submit(data, 0);
      }
    }
    entryinfo.delete(&tid);
    return 0;
  }

  int trace_read_return(struct pt_regs *ctx) { return trace_rw_return(0); }
  int trace_write_return(struct pt_regs *ctx) { return trace_rw_return(1); }
]] .. syscall_probes, cflags = {"-DTGID=" .. (opts.tgid or 0), "-DSELF=" .. ffi.C.getpid(),
              "-DALL_FILES=" .. (opts.all_files and 1 or 0),
              "-DMIN_US=" .. math.floor(min_ms * 1000), "-DDNAME_INLINE_LEN=" .. DNAME_INLINE_LEN}}

-- The first of the kernel's functions that a kprobe can take, else the last named.
local function first_function(...)
  local names = {...}
  return require("bpflua.patterns").first_kprobe_function(names) or names[#names]
end

if has_kprobes then
  local ok, err = pcall(function()
    local read, write = first_function("__vfs_read", "vfs_read"), first_function("__vfs_write", "vfs_write")
    b:attach_kprobe{event = read, fn_name = "trace_read_entry"}
    b:attach_kretprobe{event = read, fn_name = "trace_read_return"}
    b:attach_kprobe{event = write, fn_name = "trace_write_entry"}
    b:attach_kretprobe{event = write, fn_name = "trace_write_return"}
  end)
  if not ok then
    args.fail("fileslower.lua", err)
  end
end

io.stdout:setvbuf("line")
print(string.format("Tracing sync read/writes slower than %d ms", min_ms))
print(string.format("%-8s %-14s %-6s %1s %-7s %7s %s", "TIME(s)", "COMM", "TID", "D", "BYTES",
  "LAT(ms)", "FILENAME"))
local start = clock.realtime()
local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local name = ffi.string(e.name)
  if e.name_len > DNAME_INLINE_LEN then
    name = name:sub(1, -4) .. "..."
  end
  print(string.format("%-8.3f %-14.14s %-6s %1s %-7s %7.2f %s", clock.realtime() - start,
    ffi.string(e.comm), e.pid, e.mode == 0 and "R" or "W", e.sz, tonumber(e.delta_us) / 1000, name))
end)
while true do
  b:ring_buffer_poll()
end
