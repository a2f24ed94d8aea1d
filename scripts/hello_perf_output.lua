-- hello_perf_output.lua: bcc's hello_perf_output, with a tracepoint: every new process or
-- thread says hello through a perf buffer, with the time, the parent's name and pid.
local BPF = require("bpflua")
local ffi = require("ffi")
require("bpflua.args").parse(arg, {
  usage = "hello_perf_output.lua",
  description = "Say \"Hello, perf_output!\" from BPF for every fork, through a perf buffer.",
})

local b = BPF{text = [[
  struct data_t { u32 pid; u64 ts; char comm[TASK_COMM_LEN]; };
  BPF_PERF_OUTPUT(events);

  TRACEPOINT_PROBE(sched, sched_process_fork) {
    struct data_t data = {};
    data.pid = bpf_get_current_pid_tgid() >> 32;
    data.ts = bpf_ktime_get_ns();
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    events.perf_submit(args, &data, sizeof(data));
    return 0;
  }
]]}

local events = b["events"]
local start
events:open_perf_buffer(function(_, data)
  local e = events:event(data)
  start = start or e.ts
  print(string.format("%-18.9f %-16s %-6d %s", tonumber(e.ts - start) / 1e9, ffi.string(e.comm),
    e.pid, "Hello, perf_output!"))
end)

io.stdout:setvbuf("line")
print(string.format("%-18s %-16s %-6s %s", "TIME(s)", "COMM", "PID", "MESSAGE"))
while true do
  b:perf_buffer_poll()
end
