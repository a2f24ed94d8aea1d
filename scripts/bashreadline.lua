-- bashreadline.lua: print the commands typed into every running bash, as bcc's bashreadline
-- (a uretprobe on readline, whose return value is the line).
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "bashreadline.lua [-h] [-s SHARED]",
  description = "Print entered bash commands from all running shells",
  {"-s", "--shared", "shared", "string",
    "specify the location of libreadline.so library (bash's own readline by default)"},
})
local path = opts.shared or "/bin/bash"

local b = BPF{text = [[
  struct line { u32 pid; char str[80]; };
  BPF_RINGBUF_OUTPUT(events, 16);
  int printret(struct pt_regs *ctx) {
    const char *ret = (const char *)PT_REGS_RC(ctx);
    char comm[TASK_COMM_LEN];
    if (!ret) return 0;
    bpf_get_current_comm(&comm, sizeof(comm));
    /* readline serves other programs too when it is a shared library: bash's lines only */
    if (comm[0] != 'b' || comm[1] != 'a' || comm[2] != 's' || comm[3] != 'h' || comm[4] != 0)
      return 0;
    struct line *l = events.ringbuf_reserve(sizeof(struct line));
    if (!l) return 0;
    l->pid = bpf_get_current_pid_tgid() >> 32;
    bpf_probe_read_user_str(l->str, sizeof(l->str), ret);
    events.ringbuf_submit(l, 0);
    return 0;
  }
]]}
-- Newer readlines hand the line to readline_internal_teardown too; bcc prefers it where the
-- library has it, and readline otherwise.
if not pcall(b.attach_uretprobe, b, {name = path, sym = "readline_internal_teardown", fn_name = "printret"}) then
  b:attach_uretprobe{name = path, sym = "readline", fn_name = "printret"}
end

local events = b["events"]
io.stdout:setvbuf("line")
print(string.format("%-9s %-7s %s", "TIME", "PID", "COMMAND"))
events:open_ring_buffer(function(_, data)
  local l = events:event(data)
  print(string.format("%-9s %-7d %s", os.date("%H:%M:%S"), l.pid, ffi.string(l.str)))
end)
while true do
  b:ring_buffer_poll()
end
