-- runqlat.lua: run queue (scheduler) latency as a histogram, as bcc's runqlat: the time from
-- a task being woken (or preempted while runnable) to it running on a CPU.
local BPF = require("bpflua")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "runqlat.lua [-h] [-T] [-m] [-P] [--pidnss] [-L] [-p PID] [interval] [count]",
  description = "Summarize run queue (scheduler) latency as a histogram",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-m", "--milliseconds", "milliseconds", "flag", "millisecond histogram"},
  {"-P", "--pids", "pids", "flag", "print a histogram per process ID"},
  {nil, "--pidnss", "pidnss", "flag", "print a histogram per PID namespace"},
  {"-L", "--tids", "tids", "flag", "print a histogram per thread ID"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    runqlat.lua            # summarize run queue latency as a histogram
    runqlat.lua 1 10       # print 1 second summaries, 10 times
    runqlat.lua -mT 1      # 1s summaries, milliseconds, and timestamps
    runqlat.lua -P         # show each PID separately
    runqlat.lua -p 185     # trace PID 185 only
    runqlat.lua --pidnss   # show each PID namespace separately]],
})
local per = (opts.pids and 1 or 0) + (opts.tids and 1 or 0) + (opts.pidnss and 1 or 0)
if per > 1 then
  io.stderr:write("runqlat.lua: -P, -L and --pidnss exclude each other\n")
  os.exit(2)
end
-- What a histogram section is per: 0 none, 1 process, 2 thread, 3 PID namespace.
local section = opts.pids and 1 or opts.tids and 2 or opts.pidnss and 3 or 0

-- Raw tracepoints give the tasks themselves (sched_wakeup's p; sched_switch's prev and next),
-- so the histogram can be per process or namespace, not only per thread as the classic
-- tracepoints' pid fields allow.
local b = BPF{text = [[
  BPF_HASH(start, u32, u64, 10240);
  struct section_slot { u64 section; u64 slot; };
  BPF_HISTOGRAM(dist, struct section_slot, 64 * 1024);

  static int enqueued(struct task_struct *p)
  {
    u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);
    if (tid == 0 || (PID && tgid != PID))
      return 0;
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
  }

  RAW_TRACEPOINT_PROBE(sched_wakeup) { return enqueued((struct task_struct *)ctx->args[0]); }
  RAW_TRACEPOINT_PROBE(sched_wakeup_new) { return enqueued((struct task_struct *)ctx->args[0]); }

  RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    /* A task preempted while runnable (TASK_RUNNING, 0) goes back on the queue. */
    if (BPF_CORE_READ(prev, __state) == 0)
      enqueued(prev);
    u32 tid = BPF_CORE_READ(next, pid);
    u64 *ts = start.lookup(&tid);
    if (!ts)
      return 0;
    u64 delta = (bpf_ktime_get_ns() - *ts) / UNIT_NS;
    start.delete(&tid);
    struct section_slot key = {.slot = bpf_log2l(delta)};
    if (SECTION == 1)
      key.section = BPF_CORE_READ(next, tgid);
    else if (SECTION == 2)
      key.section = tid;
    else if (SECTION == 3)
      key.section = BPF_CORE_READ(next, nsproxy, pid_ns_for_children, ns.inum);
    dist.atomic_increment(key);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DSECTION=" .. section,
              "-DUNIT_NS=" .. (opts.milliseconds and 1000000 or 1000)}}

local dist = b["dist"]
local unit = opts.milliseconds and "msecs" or "usecs"
local section_header = ({"pid", "tid", "pidns"})[section]

local function report()
  intervals.header(opts.timestamp)
  if section_header then
    dist:print_log2_hist(unit, section_header)
  else
    -- one histogram: the section field is 0 throughout, fold it away
    local merged = {}
    for key, count in dist:items() do
      local slot = tonumber(key.slot)
      merged[slot] = (merged[slot] or 0) + count
    end
    require("bpflua.histogram").print_log2_slots(merged, unit)
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print("Tracing run queue latency... Hit Ctrl-C to end.")
intervals.run{interval = opts.interval, count = opts.count, report = report}
