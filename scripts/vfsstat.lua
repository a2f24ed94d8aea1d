-- vfsstat.lua: counts of common VFS calls per second, every interval, as bcc's vfsstat.
-- Probes: fentry on vfs_read, vfs_write, vfs_fsync_range, vfs_open and vfs_create where the
-- kernel supports it, else kprobes on them, as bcc. A kernel with neither: the syscalls that
-- call them from user space (syscalls tracepoints): read/pread64, write/pwrite64 on an open
-- descriptor, fsync/fdatasync, opens that succeed, mknod of regular files.
local BPF = require("bpflua")
local args = require("bpflua.args")
local intervals = require("bpflua.intervals")
local opts = args.parse(arg, {
  usage = "vfsstat.lua [-h] [-p PID] [interval] [count]",
  description = "Count some VFS calls.",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    vfsstat.lua             # count some VFS calls per second
    vfsstat.lua -p 185      # trace PID 185 only
    vfsstat.lua 2 5         # print 2 second summaries, 5 times
Probes vfs_read, vfs_write, vfs_fsync_range, vfs_open and vfs_create with fentry, or kprobes
where the kernel has no fentry, as bcc does; on a kernel with neither, the syscalls that call
them: read/pread64, write/pwrite64, fsync/fdatasync, successful opens, mknod of regular files.]],
})
local interval = opts.interval or 1

local STATS = {"READ", "WRITE", "FSYNC", "OPEN", "CREATE"}
local FUNCTIONS = {"vfs_read", "vfs_write", "vfs_fsync_range", "vfs_open", "vfs_create"}

local common = [[
  BPF_ARRAY(stats, u64, 6);
  static void stats_try_increment(int key)
  {
    if (PID && (bpf_get_current_pid_tgid() >> 32) != PID) return;
    stats.atomic_increment(key);
  }
]]
-- Without fentry and kprobes: which syscalls' tracepoints count for each function, and how.
local SYSCALLS = {
  {1, "sys_enter_read", "file_of_fd(args->fd)"}, {1, "sys_enter_pread64", "file_of_fd(args->fd)"},
  {2, "sys_enter_write", "file_of_fd(args->fd)"}, {2, "sys_enter_pwrite64", "file_of_fd(args->fd)"},
  {3, "sys_enter_fsync", "file_of_fd(args->fd)"}, {3, "sys_enter_fdatasync", "file_of_fd(args->fd)"},
  {4, "sys_exit_open", "args->ret >= 0"}, {4, "sys_exit_openat", "args->ret >= 0"},
  {4, "sys_exit_openat2", "args->ret >= 0"}, {4, "sys_exit_creat", "args->ret >= 0"},
  {5, "sys_enter_mknod", "(args->mode & S_IFMT) == 0 || S_ISREG(args->mode)"},
  {5, "sys_enter_mknodat", "(args->mode & S_IFMT) == 0 || S_ISREG(args->mode)"},
}

local probes = {}
local mode = BPF.support_kfunc() and "fentry" or
  io.open("/sys/bus/event_source/devices/kprobe/type") and "kprobe" or "syscalls"
if mode == "syscalls" then
  for _, s in ipairs(SYSCALLS) do
    if BPF.tracepoint_exists("syscalls", s[2]) then
      probes[#probes + 1] = string.format(
        "TRACEPOINT_PROBE(syscalls, %s) { if (%s) stats_try_increment(%d); return 0; }", s[2], s[3], s[1])
    end
  end
else
  for i, fn in ipairs(FUNCTIONS) do
    probes[i] = string.format(mode == "fentry" and "KFUNC_PROBE(%s) { stats_try_increment(%d); return 0; }" or
      "int do_%s(struct pt_regs *ctx) { stats_try_increment(%d); return 0; }", fn, i)
  end
end

local ok, b = pcall(BPF, {text = require("bpflua.fd_file").c .. common .. table.concat(probes, "\n"),
  cflags = {"-DPID=" .. (opts.pid or 0)}})
if not ok then
  args.fail("vfsstat.lua", b)
end
if mode == "kprobe" then
  local attached, err = pcall(function()
    for _, fn in ipairs(FUNCTIONS) do
      b:attach_kprobe{event = fn, fn_name = "do_" .. fn}
    end
  end)
  if not attached then
    args.fail("vfsstat.lua", err)
  end
end

local stats = b["stats"]
local function report()
  local line = string.format("%-8s: ", os.date("%H:%M:%S"))
  for i = 1, #STATS do
    line = line .. string.format(" %8d", math.floor(tonumber(stats:get(i)) / interval))
  end
  stats:zero()
  print(line)
end

io.stdout:setvbuf("line")
local header = string.format("%-8s  ", "TIME")
for _, name in ipairs(STATS) do
  header = header .. string.format(" %8s", name .. "/s")
end
print(header)
intervals.run{interval = interval, count = opts.count, report = report}
