-- opensnoop.lua: trace open() calls system-wide, as bcc's opensnoop does.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "opensnoop.lua [-p PID] [-n NAME] [-x] [-d SECONDS]",
  description = "Trace openat() calls: who opened what, with the descriptor or the error.",
  {"-p", "--pid", "pid", "number", "trace this process only"},
  {"-n", "--name", "name", "string", "trace processes whose name contains NAME"},
  {"-x", "--failed", "failed", "flag", "show only failed opens"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
})

local b = BPF{text = [[
  struct pending { const char *filename; };
  struct event { u32 pid; s32 ret; char comm[TASK_COMM_LEN]; char path[256]; };
  BPF_HASH(entering, u32, struct pending);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    u64 id = bpf_get_current_pid_tgid();
    if (PID && (id >> 32) != PID) return 0;
    struct pending p = {(const char *)args->filename};
    u32 tid = id;
    entering.update(&tid, &p);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_openat) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id;
    struct pending *p = entering.lookup(&tid);
    if (!p) return 0;
    struct event *e = events.ringbuf_reserve(sizeof(*e));
    if (e) {
      e->pid = id >> 32;
      e->ret = args->ret;
      bpf_get_current_comm(e->comm, sizeof(e->comm));
      bpf_probe_read_user_str(e->path, sizeof(e->path), p->filename);
      events.ringbuf_submit(e, 0);
    }
    entering.delete(&tid);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0)}}

local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local comm = ffi.string(e.comm)
  if (opts.name and not comm:find(opts.name, 1, true)) or (opts.failed and e.ret >= 0) then
    return
  end
  local fd, err = e.ret, 0
  if e.ret < 0 then
    fd, err = -1, -e.ret
  end
  print(string.format("%-6d %-16s %4d %3d %s", e.pid, comm, fd, err, ffi.string(e.path)))
end)

io.stdout:setvbuf("line")
print(string.format("%-6s %-16s %4s %3s %s", "PID", "COMM", "FD", "ERR", "PATH"))
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
