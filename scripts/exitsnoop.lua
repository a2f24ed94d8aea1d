-- exitsnoop.lua: trace process termination (exit and fatal signals), as bcc's exitsnoop.
local BPF = require("bpflua")
local ffi = require("ffi")
local clock = require("bpflua.clock")
local signals = require("bpflua.signals")
local opts = require("bpflua.args").parse(arg, {
  usage = "exitsnoop.lua [-h] [-t] [--utc] [-p PID] [--label LABEL] [-x] [--per-thread]",
  description = "Trace all process termination (exit, fatal signal)",
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp (local time default)"},
  {nil, "--utc", "utc", "flag", "include timestamp in UTC (-t implied)"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {nil, "--label", "label", "string", "label each line"},
  {"-x", "--failed", "failed", "flag", "trace only fails, exclude exit(0)"},
  {nil, "--per-thread", "per_thread", "flag", "trace per thread termination"},
  examples = [[examples:
    exitsnoop.lua                # trace all process termination
    exitsnoop.lua -x             # trace only fails, exclude exit(0)
    exitsnoop.lua -t             # include timestamps (local time)
    exitsnoop.lua --utc          # include timestamps (UTC)
    exitsnoop.lua -p 181         # only trace PID 181
    exitsnoop.lua --label=exit   # label each output line with 'exit'
    exitsnoop.lua --per-thread   # trace per thread termination]],
})
opts.timestamp = opts.timestamp or opts.utc

local b = BPF{text = [[
  struct event {
    u64 start_time, exit_time;
    u32 pid, tid, ppid;
    u32 exit_code, sig_info;
    char task[TASK_COMM_LEN];
  };
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(sched, sched_process_exit) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32, tid = (u32)id;
    if (PID && pid != PID) return 0;
    if (!PER_THREAD && pid != tid) return 0;  /* the process ends with its main thread */
    int code = BPF_CORE_READ(task, exit_code);
    if (FAILED && code == 0) return 0;
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (!e) return 0;
    e->start_time = BPF_CORE_READ(task, start_time);
    e->exit_time = bpf_ktime_get_ns();
    e->pid = pid;
    e->tid = tid;
    e->ppid = BPF_CORE_READ(task, real_parent, tgid);
    e->exit_code = code >> 8;
    e->sig_info = code & 0xFF;
    bpf_get_current_comm(&e->task, sizeof(e->task));
    events.ringbuf_submit(e, 0);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DFAILED=" .. (opts.failed and 1 or 0),
              "-DPER_THREAD=" .. (opts.per_thread and 1 or 0)}}

local label = opts.label and (#opts.label > 0 and opts.label or "exit")
local events = b["events"]

local function print_event(_, data)
  local e = events:event(data)
  local line = {}
  if opts.timestamp then
    line[#line + 1] = string.format("%-13s", clock.time_of_day(true, opts.utc))
  end
  if label then
    line[#line + 1] = string.format("%-6s", label)
  end
  local age = tonumber(e.exit_time - e.start_time) / 1e9
  line[#line + 1] = string.format("%-16s %-7d %-7d %-7d %-7.2f ", ffi.string(e.task), e.pid,
    e.ppid, e.tid, age)
  if e.sig_info == 0 then
    line[#line + 1] = e.exit_code == 0 and "0" or ("code " .. e.exit_code)
  else
    local sig = bit.band(e.sig_info, 0x7f)
    if sig ~= 0 then
      line[#line + 1] = string.format("signal %d (%s)", sig, signals.name(sig))
    end
    if bit.band(e.sig_info, 0x80) ~= 0 then
      line[#line + 1] = ", core dumped "
    end
  end
  print(table.concat(line))
end

io.stdout:setvbuf("line")
local header = {}
if opts.timestamp then
  header[#header + 1] = string.format("%-13s", "TIME-" .. (opts.utc and "UTC" or os.date("%Z")))
end
if label then
  header[#header + 1] = string.format("%-6s", "LABEL")
end
header[#header + 1] = string.format("%-16s %-7s %-7s %-7s %-7s %-10s", "PCOMM", "PID", "PPID",
  "TID", "AGE(s)", "EXIT_CODE")
print(table.concat(header))
events:open_ring_buffer(print_event)
while true do
  b:ring_buffer_poll()
end
