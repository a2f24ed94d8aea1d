-- syscount.lua: count system calls (or their latency), by syscall or by process, system-wide
-- or for one process, as bcc's syscount does, printing the top N each interval.
local BPF = require("bpflua")
local syscalls = require("bpflua.syscalls")
local opts = require("bpflua.args").parse(arg, {
  usage = "syscount.lua [-h] [-p PID] [-t TID] [-c PPID] [-i INTERVAL] [-d DURATION] [-T TOP] " ..
    "[-x] [-e ERRNO] [-L] [-m] [-P] [-l] [--syscall SYSCALL]",
  description = "Summarize syscall counts and latencies.",
  {"-p", "--pid", "pid", "number", "trace only this pid"},
  {"-t", "--tid", "tid", "number", "trace only this tid"},
  {"-c", "--ppid", "ppid", "number", "trace only child of this pid"},
  {"-i", "--interval", "interval", "number", "print summary at this interval (seconds)"},
  {"-d", "--duration", "duration", "number", "total duration of trace, in seconds"},
  {"-T", "--top", "top", "number", "print only the top syscalls by count or latency"},
  {"-x", "--failures", "failures", "flag", "trace only failed syscalls (return < 0)"},
  {"-e", "--errno", "errno", "string", "trace only syscalls that return this error (numeric or EPERM, etc.)"},
  {"-L", "--latency", "latency", "flag", "collect syscall latency"},
  {"-m", "--milliseconds", "milliseconds", "flag", "display latency in milliseconds (default: microseconds)"},
  {"-P", "--process", "process", "flag", "count by process and not by syscall"},
  {"-l", "--list", "list", "flag", "print list of recognized syscalls and exit"},
  {nil, "--syscall", "syscall", "string", "trace this syscall only (use option -l to get all recognized syscalls)"},
  examples = [[examples:
    syscount.lua                 # trace and summarize all syscalls
    syscount.lua -p 181          # trace PID 181 only
    syscount.lua -t 123          # trace TID 123 only
    syscount.lua -c 1            # trace children of PID 1 only
    syscount.lua -i 10           # print 10 second summaries
    syscount.lua -d 30           # trace for 30 seconds only
    syscount.lua -T 10           # print top 10 syscalls
    syscount.lua -x              # trace only failed syscalls
    syscount.lua -e ENOENT       # trace only syscalls that return ENOENT
    syscount.lua -L              # measure syscall latency
    syscount.lua -P              # count by process, not by syscall
    syscount.lua --syscall write # trace only the write syscall
(bcc's --exec is not offered.)]],
})
local top = opts.top or 10

if opts.list then
  local names = {}
  for _, name in pairs(syscalls.names()) do
    names[#names + 1] = name
  end
  table.sort(names)
  print(table.concat(names, "\n"))
  os.exit(0)
end

-- errno names of the C library's <errno.h>, for -e ENOENT
local function errno_number(s)
  if tonumber(s) then
    return math.abs(tonumber(s))
  end
  local f = io.open("/usr/include/asm-generic/errno-base.h")
  local g = io.open("/usr/include/asm-generic/errno.h")
  for _, file in ipairs({f, g}) do
    for line in file:lines() do
      local name, n = line:match("^#define%s+(E%w+)%s+(%d+)")
      if name == s then
        return tonumber(n)
      end
    end
  end
end

local errno = 0
if opts.errno then
  errno = errno_number(opts.errno)
  if not errno then
    io.stderr:write("syscount.lua: error: argument -e/--errno: " .. opts.errno .. " is not a valid errno\n")
    os.exit(2)
  end
end
local syscall_nr = -1
if opts.syscall then
  for nr, name in pairs(syscalls.names()) do
    if name == opts.syscall then
      syscall_nr = nr
    end
  end
  if syscall_nr < 0 then
    io.stderr:write("syscount.lua: syscall '" .. opts.syscall .. "' not found, try -l\n")
    os.exit(1)
  end
end

local b = BPF{text = [[
  struct data_t { u64 count; u64 total_ns; };
  BPF_HASH(start, u64, u64, 10240);
  BPF_HASH(data, u32, struct data_t, 10240);

  static int wanted(u64 pid_tgid)
  {
    if (PID && (pid_tgid >> 32) != PID) return 0;
    if (TID && (u32)pid_tgid != TID) return 0;
    if (PPID) {
      struct task_struct *task = (struct task_struct *)bpf_get_current_task();
      if (BPF_CORE_READ(task, real_parent, tgid) != PPID) return 0;
    }
    return 1;
  }

  TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!LATENCY || !wanted(pid_tgid)) return 0;
    if (SYSCALL_NR >= 0 && args->id != SYSCALL_NR) return 0;
    u64 ts = bpf_ktime_get_ns();
    start.update(&pid_tgid, &ts);
    return 0;
  }

  TRACEPOINT_PROBE(raw_syscalls, sys_exit) {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    if (!wanted(pid_tgid)) return 0;
    if (SYSCALL_NR >= 0 && args->id != SYSCALL_NR) return 0;
    if (FAILED && args->ret >= 0) return 0;
    if (ERRNO && args->ret != -ERRNO) return 0;
    u32 key = BY_PROCESS ? pid_tgid >> 32 : (u32)args->id;
    struct data_t zero = {};
    struct data_t *val = data.lookup_or_try_init(&key, &zero);
    if (!val) return 0;
    __sync_fetch_and_add(&val->count, 1);
    if (LATENCY) {
      u64 *ts = start.lookup(&pid_tgid);
      if (ts) {
        __sync_fetch_and_add(&val->total_ns, bpf_ktime_get_ns() - *ts);
        start.delete(&pid_tgid);
      }
    }
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DTID=" .. (opts.tid or 0), "-DPPID=" .. (opts.ppid or 0),
              "-DFAILED=" .. (opts.failures and 1 or 0), "-DERRNO=" .. errno,
              "-DLATENCY=" .. (opts.latency and 1 or 0), "-DBY_PROCESS=" .. (opts.process and 1 or 0),
              "-DSYSCALL_NR=" .. syscall_nr}}

local data = b["data"]

local function comm_of(pid)
  local f = io.open("/proc/" .. pid .. "/comm")
  local comm = f and f:read("*l") or "[unknown]"
  if f then
    f:close()
  end
  return comm
end

local function label(key)
  if opts.process then
    return string.format("%-6d %-15s", key, comm_of(key))
  end
  return syscalls.name(key)
end

local function report()
  local rows = {}
  for key, v in data:items_lookup_and_delete_batch() do
    rows[#rows + 1] = {key, tonumber(v.count), tonumber(v.total_ns)}
  end
  local by = opts.latency and 3 or 2
  table.sort(rows, function(x, y) return x[by] > y[by] end)
  print("[" .. os.date("%H:%M:%S") .. "]")
  local column = opts.process and "PID    COMM" or "SYSCALL"
  if opts.latency then
    print(string.format("%-22s %8s %16s", column, "COUNT", opts.milliseconds and "TIME (ms)" or "TIME (us)"))
  else
    print(string.format("%-22s %8s", column, "COUNT"))
  end
  for i = 1, math.min(top, #rows) do
    local r = rows[i]
    if opts.latency then
      print(string.format("%-22s %8d " .. (opts.milliseconds and "%16.6f" or "%16.3f"), label(r[1]),
        r[2], r[3] / (opts.milliseconds and 1e6 or 1e3)))
    else
      print(string.format("%-22s %8d", label(r[1]), r[2]))
    end
  end
  print("")
end

io.stdout:setvbuf("line")
if opts.syscall then
  print(string.format("Tracing %ssyscall '%s'... Ctrl+C to quit.", opts.failures and "failed " or "",
    opts.syscall))
else
  print(string.format("Tracing %ssyscalls, printing top %d... Ctrl+C to quit.",
    opts.failures and "failed " or "", top))
end
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration,
  report = report, detaching = true}
