-- oomkill.lua: trace the OOM killer, as bcc's oomkill: who triggered it, whom it killed, and
-- the load average. bcc probes oom_kill_process (a kprobe); this uses the oom:mark_victim
-- tracepoint, which fires as the victim is chosen, in the task whose allocation triggered
-- it. The tracepoint has no oom_control, so the pages printed are the victim's total_vm
-- (bcc prints the limit the OOM was against, oc->totalpages).
local BPF = require("bpflua")
local ffi = require("ffi")
require("bpflua.args").parse(arg, {
  usage = "oomkill.lua [-h]",
  description = "Trace OOM killer",
  examples = [[examples:
    oomkill.lua               # trace OOM kills, until Ctrl-C]],
})

local b = BPF{text = [[
  struct data_t {
    u32 fpid;
    u32 tpid;
    u64 pages;
    s64 stack_id;
    char fcomm[TASK_COMM_LEN];
    char tcomm[TASK_COMM_LEN];
  };
  BPF_RINGBUF_OUTPUT(events, 16);
  BPF_STACK_TRACE(stack_traces, 1024);

  TRACEPOINT_PROBE(oom, mark_victim) {
    struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
    if (!data) return 0;
    data->fpid = bpf_get_current_pid_tgid() >> 32;
    data->tpid = args->pid;
    data->pages = args->total_vm;
    bpf_get_current_comm(&data->fcomm, sizeof(data->fcomm));
    bpf_probe_read_kernel_str(&data->tcomm, sizeof(data->tcomm), (char *)args + (args->data_loc_comm & 0xFFFF));
    /* The triggering task's user stack: where its allocation ran out. */
    data->stack_id = stack_traces.get_stackid(args, BPF_F_USER_STACK);
    events.ringbuf_submit(data, 0);
    return 0;
  }
]]}

local events = b["events"]

local function loadavg()
  local f = io.open("/proc/loadavg")
  local line = f and f:read("*l") or ""
  if f then
    f:close()
  end
  return line
end

local function print_event(_, data)
  local e = events:event(data)
  print(string.format("%s Triggered by PID %d (\"%s\"), OOM kill of PID %d (\"%s\"), %d pages, loadavg: %s",
    os.date("%H:%M:%S"), e.fpid, ffi.string(e.fcomm), e.tpid, ffi.string(e.tcomm), tonumber(e.pages), loadavg()))
  local stack_id = tonumber(e.stack_id)
  if stack_id >= 0 then
    print("  Stack trace:")
    for addr in b["stack_traces"]:walk(stack_id) do
      print("    " .. b:sym(addr, e.fpid))
    end
  else
    print("  Failed to capture stack trace")
  end
end

io.stdout:setvbuf("line")
print("Tracing OOM kills... Ctrl-C to stop.")
events:open_ring_buffer(print_event)
while true do
  b:ring_buffer_poll()
end
