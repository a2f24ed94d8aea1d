-- softirqs.lua: time spent in soft interrupts, as totals or histograms, as bcc's softirqs.
local BPF = require("bpflua")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "softirqs.lua [-h] [-T] [-N] [-C] [-d] [-c CPU] [interval] [count]",
  description = "Summarize soft irq event time as histograms.",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-N", "--nanoseconds", "nanoseconds", "flag", "output in nanoseconds"},
  {"-C", "--events", "events", "flag", "show the number of soft irq events"},
  {"-d", "--dist", "dist", "flag", "show distributions as histograms"},
  {"-c", "--cpu", "cpu", "number", "trace this CPU only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    softirqs.lua            # sum soft irq event time
    softirqs.lua -C         # show the number of soft irq events
    softirqs.lua -d         # show soft irq event time as histograms
    softirqs.lua 1 10       # print 1 second summaries, 10 times
    softirqs.lua -NT 1      # 1s summaries, nanoseconds, and timestamps
    softirqs.lua -c 1       # sum soft irq event time on CPU 1 only]],
})
if opts.events and (opts.dist or opts.nanoseconds) then
  print("The --events option can't be used with time-based options")
  os.exit(1)
end

-- softirq_to_name in kernel/softirq.c
local NAMES = {[0] = "hi", "timer", "net_tx", "net_rx", "block", "irq_poll", "tasklet", "sched",
  "hrtimer", "rcu"}
local factor, label = 1000, "usecs"
if opts.nanoseconds then
  factor, label = 1, "nsecs"
end

local b = BPF{text = [[
  struct entry { u64 ts; u32 vec; };
  struct vec_slot { u64 vec; u64 slot; };
  BPF_PERCPU_ARRAY(started, struct entry, 1);
  #if DIST
  BPF_HISTOGRAM(dist, struct vec_slot);
  #else
  BPF_HASH(dist, u32, u64);
  #endif

  TRACEPOINT_PROBE(irq, softirq_entry) {
    if (CPU >= 0 && bpf_get_smp_processor_id() != CPU) return 0;
  #if EVENTS
    u32 vec = args->vec;
    dist.atomic_increment(vec);
  #else
    int zero = 0;
    struct entry *e = started.lookup(&zero);
    if (e) { e->ts = bpf_ktime_get_ns(); e->vec = args->vec; }
  #endif
    return 0;
  }

  #if !EVENTS
  TRACEPOINT_PROBE(irq, softirq_exit) {
    int zero = 0;
    struct entry *e = started.lookup(&zero);
    if (!e || !e->ts || e->vec != args->vec) return 0;
    u64 delta = bpf_ktime_get_ns() - e->ts;
    e->ts = 0;
  #if DIST
    struct vec_slot key = {.vec = args->vec, .slot = bpf_log2l(delta / FACTOR)};
    dist.atomic_increment(key);
  #else
    u32 vec = args->vec;
    dist.atomic_increment(vec, delta);
  #endif
    return 0;
  }
  #endif
]], cflags = {"-DCPU=" .. (opts.cpu or -1), "-DDIST=" .. (opts.dist and 1 or 0),
              "-DEVENTS=" .. (opts.events and 1 or 0), "-DFACTOR=" .. factor}}

local dist = b["dist"]
local function name(vec)
  return NAMES[vec] or tostring(vec)
end

local function report()
  intervals.header(opts.timestamp)
  if opts.dist then
    dist:print_log2_hist(label, "softirq", name)
  else
    local rows = {}
    for vec, v in dist:items() do
      rows[#rows + 1] = {vec, v}
    end
    table.sort(rows, function(x, y) return x[2] > y[2] end)
    print(string.format("%-16s %11s", "SOFTIRQ", opts.events and "TOTAL_count" or ("TOTAL_" .. label)))
    for _, r in ipairs(rows) do
      print(string.format("%-16s %11d", name(r[1]), opts.events and r[2] or math.floor(r[2] / factor)))
    end
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print(opts.events and "Tracing soft irq events... Hit Ctrl-C to end." or
  "Tracing soft irq event time... Hit Ctrl-C to end.")
intervals.run{interval = opts.interval, count = opts.count, report = report}
