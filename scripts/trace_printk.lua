-- trace_printk.lua: hello world with bpf_trace_printk, as bcc's hello_fields.py: every
-- execve() says hello, and the script prints the trace pipe's fields. Ctrl-C to stop.
local BPF = require("bpflua")
require("bpflua.args").parse(arg, {
  usage = "trace_printk.lua",
  description = "Print \"Hello, World!\" from BPF for every new program, with its fields.",
})

local b = BPF{text = [[
  int hello(void *ctx) {
    bpf_trace_printk("Hello, World!\n");
    return 0;
  }
]]}
b:attach_tracepoint{tp = "syscalls:sys_enter_execve", fn_name = "hello"}

io.stdout:setvbuf("line")
print(string.format("%-18s %-16s %-6s %s", "TIME(s)", "COMM", "PID", "MESSAGE"))
while true do
  local task, pid, _, _, ts, msg = b:trace_fields()
  print(string.format("%-18.9f %-16s %-6d %s", ts, task, pid, msg))
end
