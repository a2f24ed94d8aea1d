-- killsnoop.lua: trace signals sent with kill(2), as bcc's killsnoop.
local BPF = require("bpflua")
local ffi = require("ffi")
local signals = require("bpflua.signals")
local opts = require("bpflua.args").parse(arg, {
  usage = "killsnoop.lua [-h] [-x] [-p PID] [-T TPID] [-s SIGNAL]",
  description = "Trace signals issued by the kill() syscall",
  {"-x", "--failed", "failed", "flag", "only show failed kill syscalls"},
  {"-p", "--pid", "pid", "number", "trace this PID only which is the sender of signal"},
  {"-T", "--tpid", "tpid", "number", "trace this target PID only which is the receiver of signal"},
  {"-s", "--signal", "signal", "string", "trace a signal or a signal list (e.g. 9,15 or KILL,TERM)"},
  examples = [[examples:
    killsnoop.lua           # trace all kill() signals
    killsnoop.lua -x        # only show failed kills
    killsnoop.lua -p 181    # only trace PID 181
    killsnoop.lua -T 189    # only trace target PID 189
    killsnoop.lua -s 9      # only trace signal 9]],
})

-- The signals to show, as a bit mask for the BPF side (0: all).
local mask = 0ULL
for s in (opts.signal or ""):gmatch("[^,%s]+") do
  local n = signals.number(s)
  if not n or n < 0 or n > 63 then
    io.stderr:write("killsnoop.lua: unknown signal '" .. s .. "'\n")
    os.exit(2)
  end
  mask = bit.bor(mask, bit.lshift(1ULL, n))
end

local b = BPF{text = [[
  struct event { u32 pid; s32 tpid; s32 sig; s32 ret; char comm[TASK_COMM_LEN]; };
  BPF_HASH(pending, u32, struct event);
  BPF_RINGBUF_OUTPUT(events, 16);

  TRACEPOINT_PROBE(syscalls, sys_enter_kill) {
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32, tid = (u32)id;
    if (PID && pid != PID) return 0;
    if (TPID && args->pid != TPID) return 0;
    if (SIGNALS && (args->sig < 0 || args->sig > 63 || !((SIGNALS >> args->sig) & 1))) return 0;
    struct event e = {.pid = pid, .tpid = args->pid, .sig = args->sig};
    bpf_get_current_comm(&e.comm, sizeof(e.comm));
    pending.update(&tid, &e);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_kill) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct event *e = pending.lookup(&tid);
    if (!e) return 0;
    e->ret = args->ret;
    if (!FAILED || e->ret < 0)
      events.ringbuf_output(e, sizeof(*e), 0);
    pending.delete(&tid);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DTPID=" .. (opts.tpid or 0),
              "-DFAILED=" .. (opts.failed and 1 or 0),
              "-DSIGNALS=" .. tostring(mask):gsub("ULL$", "") .. "ULL"}}

-- bcc sizes the PID columns to pid_max's digits.
local pid_width = 7
local f = io.open("/proc/sys/kernel/pid_max")
if f then
  pid_width = #f:read("*l") + 1
  f:close()
end

local events = b["events"]
io.stdout:setvbuf("line")
print(string.format("%-9s %-" .. pid_width .. "s %-16s %-4s %-" .. pid_width .. "s %s",
  "TIME", "PID", "COMM", "SIG", "TPID", "RESULT"))
local row = "%-9s %-" .. pid_width .. "d %-16s %-4d %-" .. pid_width .. "d %d"
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  print(string.format(row, os.date("%H:%M:%S"), e.pid, ffi.string(e.comm), e.sig, e.tpid, e.ret))
end)
while true do
  b:ring_buffer_poll()
end
