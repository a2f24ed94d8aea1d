-- filetop.lua: file reads and writes by process and file, a top-like summary every interval,
-- as bcc's filetop.
-- Probes: kprobes on vfs_read and vfs_write, as bcc. On a kernel without kprobes, the entries
-- of read(2), pread64(2), write(2) and pwrite64(2) (syscalls tracepoints), the callers of
-- vfs_read and vfs_write from user space, with the file behind their descriptor.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local intervals = require("bpflua.intervals")
local SORTS = {all = true, reads = true, writes = true, rbytes = true, wbytes = true}
local opts = args.parse(arg, {
  usage = "filetop.lua [-h] [-a] [-C] [-r MAXROWS] [-s {all,reads,writes,rbytes,wbytes}] [-p PID] " ..
    "[interval] [count]",
  description = "File reads and writes by process",
  {"-a", "--all-files", "all_files", "flag", "include non-regular file types (sockets, FIFOs, etc)"},
  {"-C", "--noclear", "noclear", "flag", "don't clear the screen"},
  {"-r", "--maxrows", "maxrows", "number", "maximum rows to print, default 20", default = 20},
  {"-s", "--sort", "sort", "string", "sort column, default all", default = "all",
    metavar = "{all,reads,writes,rbytes,wbytes}"},
  {"-p", "--pid", "tgid", "number", "trace this PID only", metavar = "PID"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    filetop.lua            # file I/O top, 1 second refresh
    filetop.lua -C         # don't clear the screen
    filetop.lua -p 181     # PID 181 only
    filetop.lua 5          # 5 second summaries
    filetop.lua 5 10       # 5 second summaries, 10 times only
Probes vfs_read and vfs_write with kprobes, as bcc does; on a kernel without kprobes, the
read, pread64, write and pwrite64 syscalls (the user-space callers of vfs_read and vfs_write).]],
})
if not SORTS[opts.sort] then
  io.stderr:write("filetop.lua: argument -s/--sort: invalid choice: '" .. opts.sort ..
    "' (choose from 'all', 'reads', 'writes', 'rbytes', 'wbytes')\n")
  os.exit(2)
end
local interval = opts.interval or 1
local DNAME_INLINE_LEN = 32

local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil
local syscall_probes = has_kprobes and "" or [[
  TRACEPOINT_PROBE(syscalls, sys_enter_read) { return syscall_entry(args->fd, args->count, 1); }
  TRACEPOINT_PROBE(syscalls, sys_enter_pread64) { return syscall_entry(args->fd, args->count, 1); }
  TRACEPOINT_PROBE(syscalls, sys_enter_write) { return syscall_entry(args->fd, args->count, 0); }
  TRACEPOINT_PROBE(syscalls, sys_enter_pwrite64) { return syscall_entry(args->fd, args->count, 0); }
]]

local b = BPF{text = require("bpflua.fd_file").c .. [[
  struct info_t {
    u64 inode;
    u32 dev, rdev;
    u32 pid, name_len;
    char comm[TASK_COMM_LEN];
    char name[DNAME_INLINE_LEN];   /* d_name may be longer: the length says so */
    char type;
  };
  struct val_t { u64 reads, writes, rbytes, wbytes; };
  BPF_HASH(counts, struct info_t, struct val_t, 10240);

  static int do_entry(struct file *file, size_t count, int is_read)
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (TGID && (pid_tgid >> 32) != TGID) return 0;
    struct dentry *de = BPF_CORE_READ(file, f_path.dentry);
    struct inode *inode = BPF_CORE_READ(file, f_inode);
    int mode = BPF_CORE_READ(inode, i_mode);
    u32 len = BPF_CORE_READ(de, d_name.len);
    if (len == 0 || (!ALL_FILES && !S_ISREG(mode))) return 0;   /* I/O without a file name */
    struct info_t info;
    __builtin_memset(&info, 0, sizeof(info));   /* the padding too: the whole key is hashed */
    info.pid = (u32)pid_tgid;
    info.inode = BPF_CORE_READ(inode, i_ino);
    info.dev = BPF_CORE_READ(inode, i_sb, s_dev);
    info.rdev = BPF_CORE_READ(inode, i_rdev);
    info.name_len = len;
    info.type = S_ISREG(mode) ? 'R' : S_ISSOCK(mode) ? 'S' : 'O';
    bpf_get_current_comm(&info.comm, sizeof(info.comm));
    bpf_probe_read_kernel_str(&info.name, sizeof(info.name), BPF_CORE_READ(de, d_name.name));
    struct val_t zero = {};
    struct val_t *valp = counts.lookup_or_try_init(&info, &zero);
    if (valp) {
      if (is_read) {
        __sync_fetch_and_add(&valp->reads, 1);
        __sync_fetch_and_add(&valp->rbytes, count);
      } else {
        __sync_fetch_and_add(&valp->writes, 1);
        __sync_fetch_and_add(&valp->wbytes, count);
      }
    }
    return 0;
  }

  int trace_read_entry(struct pt_regs *ctx, struct file *file, char *buf, size_t count)
  {
    return do_entry(file, count, 1);
  }

  int trace_write_entry(struct pt_regs *ctx, struct file *file, char *buf, size_t count)
  {
    return do_entry(file, count, 0);
  }

  static int syscall_entry(long fd, size_t count, int is_read)
  {
    struct file *file = file_of_fd(fd);
    return file ? do_entry(file, count, is_read) : 0;   /* EBADF never reaches vfs_read */
  }
]] .. syscall_probes, cflags = {"-DTGID=" .. (opts.tgid or 0), "-DALL_FILES=" .. (opts.all_files and 1 or 0),
              "-DDNAME_INLINE_LEN=" .. DNAME_INLINE_LEN}}

if has_kprobes then
  local ok, err = pcall(function()
    b:attach_kprobe{event = "vfs_read", fn_name = "trace_read_entry"}
    b:attach_kprobe{event = "vfs_write", fn_name = "trace_write_entry"}
  end)
  if not ok then
    args.fail("filetop.lua", err)
  end
end

local counts = b["counts"]
local function sort_value(v)
  if opts.sort == "all" then
    return v.rbytes + v.wbytes + v.reads + v.writes
  end
  return v[opts.sort]
end

local function report()
  intervals.top_header(opts.noclear)
  print(string.format("%-7s %-16s %-6s %-6s %-7s %-7s %1s %s", "TID", "COMM", "READS", "WRITES",
    "R_Kb", "W_Kb", "T", "FILE"))
  local rows = {}
  for k, v in counts:items() do
    local name = ffi.string(k.name)
    if k.name_len > DNAME_INLINE_LEN then
      name = name:sub(1, -4) .. "..."
    end
    rows[#rows + 1] = {pid = k.pid, comm = ffi.string(k.comm), name = name, type = string.char(k.type),
      reads = tonumber(v.reads), writes = tonumber(v.writes), rbytes = tonumber(v.rbytes),
      wbytes = tonumber(v.wbytes)}
  end
  table.sort(rows, function(x, y) return sort_value(x) > sort_value(y) end)
  for i = 1, math.min(#rows, opts.maxrows) do
    local r = rows[i]
    print(string.format("%-7d %-16s %-6d %-6d %-7d %-7d %1s %s", r.pid, r.comm, r.reads, r.writes,
      math.floor(r.rbytes / 1024), math.floor(r.wbytes / 1024), r.type, r.name))
  end
  counts:clear()
end

io.stdout:setvbuf("line")
print(string.format("Tracing... Output every %d secs. Hit Ctrl-C to end", interval))
intervals.run{interval = interval, count = opts.count, report = report, detaching = true}
