-- execsnoop.lua: trace new programs (execve), as bcc's execsnoop does.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "execsnoop.lua [-n NAME] [-x] [-d SECONDS]",
  description = "Trace execve() calls: the program, its arguments, its parent and the result.",
  {"-n", "--name", "name", "string", "show commands whose name contains NAME"},
  {"-x", "--failed", "failed", "flag", "show only failed exec()s"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
})

local b = BPF{text = [[
  #define MAX_ARGS 8
  #define ARG_LEN 64
  struct event {
    u32 pid; u32 ppid; s32 ret; u32 argc;
    char comm[TASK_COMM_LEN];
    char argv[MAX_ARGS][ARG_LEN];
  };
  BPF_HASH(pending, u32, struct event);
  BPF_PERCPU_ARRAY(scratch, struct event, 1);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(syscalls, sys_enter_execve) {
    int zero = 0;
    struct event *e = scratch.lookup(&zero);
    if (!e) return 0;
    u64 id = bpf_get_current_pid_tgid();
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    e->pid = id >> 32;
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
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
    bpf_get_current_comm(e->comm, sizeof(e->comm));
    events.ringbuf_output(e, sizeof(*e), 0);
    pending.delete(&tid);
    return 0;
  }
]]}

local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local comm = ffi.string(e.comm)
  if (opts.name and not comm:find(opts.name, 1, true)) or (opts.failed and e.ret == 0) then
    return
  end
  local argv = {}
  for i = 0, e.argc - 1 do
    argv[#argv + 1] = ffi.string(e.argv[i])
  end
  print(string.format("%-16s %-7d %-7d %3d %s", comm, e.pid, e.ppid, e.ret, table.concat(argv, " ")))
end)

io.stdout:setvbuf("line")
print(string.format("%-16s %-7s %-7s %3s %s", "PCOMM", "PID", "PPID", "RET", "ARGS"))
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
