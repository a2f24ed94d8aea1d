-- gethostlatency.lua: show the latency of name lookups (getaddrinfo, gethostbyname,
-- gethostbyname2) in every process, as bcc's gethostlatency.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "gethostlatency.lua [-h] [-p PID]",
  description = "Show latency for getaddrinfo/gethostbyname[2] calls",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  examples = [[examples:
    gethostlatency.lua           # time all host lookups
    gethostlatency.lua -p 181    # only trace PID 181]],
})

local b = BPF{text = [[
  struct lookup { u32 pid; u64 start; u64 delta; char comm[TASK_COMM_LEN]; char host[80]; };
  BPF_HASH(started, u32, struct lookup);
  BPF_RINGBUF_OUTPUT(events, 16);

  int do_entry(struct pt_regs *ctx) {
    const char *host = (const char *)PT_REGS_PARM1(ctx);
    if (!host) return 0;
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct lookup l = {.pid = id >> 32, .start = bpf_ktime_get_ns()};
    bpf_get_current_comm(&l.comm, sizeof(l.comm));
    bpf_probe_read_user_str(l.host, sizeof(l.host), host);
    started.update(&tid, &l);
    return 0;
  }

  int do_return(struct pt_regs *ctx) {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct lookup *l = started.lookup(&tid);
    if (!l) return 0;
    l->delta = bpf_ktime_get_ns() - l->start;
    events.ringbuf_output(l, sizeof(*l), 0);
    started.delete(&tid);
    return 0;
  }
]]}
for _, sym in ipairs({"getaddrinfo", "gethostbyname", "gethostbyname2"}) do
  b:attach_uprobe{name = "c", sym = sym, fn_name = "do_entry", pid = opts.pid or -1}
  b:attach_uretprobe{name = "c", sym = sym, fn_name = "do_return", pid = opts.pid or -1}
end

local events = b["events"]
io.stdout:setvbuf("line")
print(string.format("%-9s %-7s %-16s %10s %s", "TIME", "PID", "COMM", "LATms", "HOST"))
events:open_ring_buffer(function(_, data)
  local l = events:event(data)
  print(string.format("%-9s %-7d %-16s %10.2f %s", os.date("%H:%M:%S"), l.pid, ffi.string(l.comm),
    tonumber(l.delta) / 1e6, ffi.string(l.host)))
end)
while true do
  b:ring_buffer_poll()
end
