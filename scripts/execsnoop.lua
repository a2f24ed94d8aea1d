-- execsnoop.lua: trace new programs (execve), as bcc's execsnoop does.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "execsnoop.lua [-h] [-T] [-t] [-x] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-u USER] [-q] [-n NAME] [-l LINE] [-U] [-C] [-M] " ..
    "[--max-args MAX_ARGS] [-P PPID] [-d SECONDS]",
  description = "Trace exec() syscalls",
  {"-T", "--time", "time", "flag", "include time column on output (HH:MM:SS)"},
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-x", "--fails", "fails", "flag", "include failed exec()s"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  {"-u", "--uid", "uid", "string", "trace this UID only", metavar = "USER"},
  {"-q", "--quote", "quote", "flag", "Add quotemarks (\") around arguments."},
  {"-n", "--name", "name", "string", "only print commands matching this name (regex), any arg"},
  {"-l", "--line", "line", "string", "only print commands where arg contains this line (regex)"},
  {"-U", "--print-uid", "print_uid", "flag", "print UID column"},
  {"-C", "--print-cpu", "print_cpu", "flag", "print CPU column"},
  {"-M", "--print-pcomm", "print_pcomm", "flag", "print parent command"},
  {nil, "--max-args", "max_args", "number", "maximum number of arguments parsed and displayed, defaults to 20"},
  {"-P", "--ppid", "ppid", "number", "trace this parent PID only"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
  examples = [[examples:
    execsnoop.lua           # trace all exec() syscalls
    execsnoop.lua -x        # include failed exec()s
    execsnoop.lua -T        # include time (HH:MM:SS)
    execsnoop.lua -P 181    # only trace new processes whose parent PID is 181
    execsnoop.lua -U        # include UID
    execsnoop.lua -u 1000   # only trace UID 1000
    execsnoop.lua -u user   # get user UID and trace only them
    execsnoop.lua -t        # include timestamps
    execsnoop.lua -q        # add "quotemarks" around arguments
    execsnoop.lua -n main   # only print command lines containing "main"
    execsnoop.lua -l tpkg   # only print command where arguments contains "tpkg"
    execsnoop.lua --cgroupmap mappath  # only trace cgroups in this BPF map
    execsnoop.lua --mntnsmap mappath   # only trace mount namespaces in the map]],
})

-- bcc's -n and -l are regular expressions: POSIX extended ones here (bpflua.patterns).
local patterns = require("bpflua.patterns")
local name_re = opts.name and patterns.compile(opts.name, "execsnoop.lua -n")
local line_re = opts.line and patterns.compile(opts.line, "execsnoop.lua -l")
local uid = -1
if opts.uid then
  uid = tonumber(opts.uid)
  if not uid then
    -- a user name, as bcc's parse_uid takes it, through the password database
    local out = io.popen("id -u -- '" .. opts.uid:gsub("'", "") .. "' 2>/dev/null"):read("*l")
    uid = tonumber(out)
    if not uid then
      io.stderr:write("execsnoop.lua: error: argument -u/--uid: no such user '" .. opts.uid .. "'\n")
      os.exit(2)
    end
  end
end
local max_args = opts.max_args or 20

local b = BPF{text = args.container_filter("execsnoop.lua", opts) .. [[
  #define ARG_LEN 128
  struct event {
    u32 pid; u32 ppid; s32 ret; u32 argc; u32 uid; u32 cpu;
    char comm[TASK_COMM_LEN];
    char pcomm[TASK_COMM_LEN];
    char argv[MAX_ARGS][ARG_LEN];
  };
  BPF_HASH(pending, u32, struct event);
  BPF_PERCPU_ARRAY(scratch, struct event, 1);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    if (container_should_be_filtered()) return 0;
    int zero = 0;
    struct event *e = scratch.lookup(&zero);
    if (!e) return 0;
    u64 id = bpf_get_current_pid_tgid();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e->uid = (u32)bpf_get_current_uid_gid();
    if (UID >= 0 && e->uid != UID) return 0;
    e->pid = id >> 32;
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    if (PPID && e->ppid != PPID) return 0;
    BPF_CORE_READ_STR_INTO(&e->pcomm, task, real_parent, comm);
    e->argc = 0;
    const char *const *argv = (const char *const *)args->argv;
    for (int i = 0; i < MAX_ARGS; i++) {
      const char *arg = NULL;
      bpf_probe_read_user(&arg, sizeof(arg), &argv[i]);
      if (!arg) break;
      bpf_probe_read_user_str(e->argv[i], ARG_LEN, arg);
      e->argc = i + 1;
    }
    u32 tid = id;
    pending.update(&tid, e);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_execve) {
    u32 tid = bpf_get_current_pid_tgid();
    struct event *e = pending.lookup(&tid);
    if (!e) return 0;
    e->ret = args->ret;
    e->cpu = bpf_get_smp_processor_id();
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    events.ringbuf_output(e, sizeof(*e), 0);
    pending.delete(&tid);
    return 0;
  }
]], cflags = {"-DMAX_ARGS=" .. max_args, "-DUID=" .. uid, "-DPPID=" .. (opts.ppid or 0)}}

local events = b["events"]
local start = require("bpflua.clock").realtime()
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local comm = ffi.string(e.comm)
  local argv = {}
  for i = 0, e.argc - 1 do
    local a = ffi.string(e.argv[i])
    argv[#argv + 1] = opts.quote and ('"' .. a:gsub('"', '\\"') .. '"') or a
  end
  local args_text = table.concat(argv, " ")
  if (e.ret ~= 0 and not opts.fails) or (name_re and not name_re(comm)) or
     (line_re and not line_re(args_text)) then
    return
  end
  local line = {}
  if opts.time then
    line[#line + 1] = string.format("%-9s", os.date("%H:%M:%S"))
  end
  if opts.timestamp then
    line[#line + 1] = string.format("%-8.3f", require("bpflua.clock").realtime() - start)
  end
  if opts.print_uid then
    line[#line + 1] = string.format("%-6d", e.uid)
  end
  line[#line + 1] = string.format("%-16s %-7d ", comm, e.pid)
  if opts.print_pcomm then
    line[#line + 1] = string.format("%-16s ", ffi.string(e.pcomm))
  end
  line[#line + 1] = string.format("%-7s ", e.ppid > 0 and tostring(e.ppid) or "?")
  if opts.print_cpu then
    line[#line + 1] = string.format("%-4d ", e.cpu)
  end
  line[#line + 1] = string.format("%3d %s", e.ret, (args_text:gsub("\n", "\\n")))
  print(table.concat(line))
end)

io.stdout:setvbuf("line")
print((opts.time and string.format("%-9s", "TIME") or "") ..
  (opts.timestamp and string.format("%-8s", "TIME(s)") or "") ..
  (opts.print_uid and string.format("%-6s", "UID") or "") ..
  string.format("%-16s %-7s ", "COMM", "PID") ..
  (opts.print_pcomm and string.format("%-16s ", "PCOMM") or "") ..
  string.format("%-7s ", "PPID") .. (opts.print_cpu and string.format("%-4s ", "CPU") or "") ..
  string.format("%3s %s", "RET", "ARGS"))
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
