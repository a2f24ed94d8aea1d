-- runqlat.lua: run queue (scheduler) latency as a histogram, as bcc's runqlat: the time from
-- a task being woken (or preempted while runnable) to it running on a CPU.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "runqlat.lua [-m] [-p PID] [-P] [-i INTERVAL] [-d SECONDS]",
  description = "Summarize run queue latency as a histogram.",
  {"-m", "--milliseconds", "milliseconds", "flag", "millisecond histogram (default: microseconds)"},
  {"-p", "--pid", "pid", "number", "trace this process (thread id) only"},
  {"-P", "--pids", "per_pid", "flag", "print a histogram per process (thread id)"},
  {"-i", "--interval", "interval", "number", "print every INTERVAL seconds (default: at the end)"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
})

local b = BPF{text = [[
  BPF_HASH(start, u32, u64, 10240);
  #if PER_PID
  struct hist_key { u32 pid; u64 slot; };
  BPF_HISTOGRAM(dist, struct hist_key, 64 * 1024);
  #define HIST_KEY(pid, slot) ((struct hist_key){pid, slot})
  #else
  BPF_HISTOGRAM(dist);
  #define HIST_KEY(pid, slot) (slot)
  #endif

  static int enqueued(u32 pid)
  {
    if (pid == 0 || (PID && pid != PID))
      return 0;
    u64 ts = bpf_ktime_get_ns();
    start.update(&pid, &ts);
    return 0;
  }

  TRACEPOINT_PROBE(sched, sched_wakeup) { return enqueued(args->pid); }
  TRACEPOINT_PROBE(sched, sched_wakeup_new) { return enqueued(args->pid); }

  TRACEPOINT_PROBE(sched, sched_switch) {
    /* A task preempted while runnable (state 0, TASK_RUNNING) goes back on the queue. */
    if (args->prev_state == 0)
      enqueued(args->prev_pid);
    u32 pid = args->next_pid;
    u64 *ts = start.lookup(&pid);
    if (!ts)
      return 0;
    u64 delta = (bpf_ktime_get_ns() - *ts) / UNIT_NS;
    start.delete(&pid);
    dist.atomic_increment(HIST_KEY(pid, bpf_log2l(delta)));
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DPER_PID=" .. (opts.per_pid and 1 or 0),
              "-DUNIT_NS=" .. (opts.milliseconds and 1000000 or 1000)}}

local dist = b["dist"]
local unit = opts.milliseconds and "msecs" or "usecs"

local function report()
  if opts.interval then
    print()
    print(os.date("%H:%M:%S"))
  end
  if opts.per_pid then
    dist:print_log2_hist(unit, "pid")
  else
    dist:print_log2_hist(unit)
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print("Tracing run queue latency... Hit Ctrl-C to end.")
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration, report = report}
