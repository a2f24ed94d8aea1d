-- hardirqs.lua: time spent in hard interrupt handlers, as totals or histograms, as bcc's hardirqs.
local BPF = require("bpflua")
local ffi = require("ffi")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "hardirqs.lua [-h] [-T] [-N] [-C] [-d] [-c CPU] [interval] [outputs]",
  description = "Summarize hard irq event time as histograms",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-N", "--nanoseconds", "nanoseconds", "flag", "output in nanoseconds"},
  {"-C", "--count", "count_events", "flag", "show event counts instead of timing"},
  {"-d", "--dist", "dist", "flag", "show distributions as histograms"},
  {"-c", "--cpu", "cpu", "number", "trace this CPU only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"outputs", "number", "number of outputs"}},
  examples = [[examples:
    hardirqs.lua            # sum hard irq event time
    hardirqs.lua -d         # show hard irq event time as histograms
    hardirqs.lua 1 10       # print 1 second summaries, 10 times
    hardirqs.lua -NT 1      # 1s summaries, nanoseconds, and timestamps
    hardirqs.lua -c 1       # sum hard irq event time on CPU 1 only]],
})
if opts.count_events and (opts.dist or opts.nanoseconds) then
  print("The --count option can't be used with time-based options")
  os.exit(1)
end
local factor, label = 1000, "usecs"
if opts.count_events then
  factor, label = 1, "count"
elseif opts.nanoseconds then
  factor, label = 1, "nsecs"
end

local b = BPF{text = [[
  #define NAME_LEN 32
  struct irq_key { char name[NAME_LEN]; u64 slot; };
  struct entry { u64 ts; char name[NAME_LEN]; };
  BPF_PERCPU_ARRAY(started, struct entry, 1);
  BPF_HISTOGRAM(dist, struct irq_key);

  static void read_name(char *name, void *args, u32 loc)
  {
    /* __data_loc: the low 16 bits give the string's offset in the record. The name is part
     * of a key, so bytes after its end must not keep an older, longer name's. */
    __builtin_memset(name, 0, NAME_LEN);
    bpf_probe_read_kernel_str(name, NAME_LEN, (char *)args + (loc & 0xFFFF));
  }

  TRACEPOINT_PROBE(irq, irq_handler_entry) {
    if (CPU >= 0 && bpf_get_smp_processor_id() != CPU) return 0;
  #if COUNT_EVENTS
    struct irq_key key = {};
    read_name(key.name, args, args->data_loc_name);
    dist.atomic_increment(key);
  #else
    int zero = 0;
    struct entry *e = started.lookup(&zero);
    if (!e) return 0;
    e->ts = bpf_ktime_get_ns();
    read_name(e->name, args, args->data_loc_name);
  #endif
    return 0;
  }

  #if !COUNT_EVENTS
  TRACEPOINT_PROBE(irq, irq_handler_exit) {
    int zero = 0;
    struct entry *e = started.lookup(&zero);
    if (!e || !e->ts) return 0;
    u64 delta = bpf_ktime_get_ns() - e->ts;
    e->ts = 0;
    struct irq_key key = {};
    __builtin_memcpy(key.name, e->name, NAME_LEN);
  #if DIST
    key.slot = bpf_log2l(delta / FACTOR);
    dist.atomic_increment(key);
  #else
    dist.atomic_increment(key, delta);
  #endif
    return 0;
  }
  #endif
]], cflags = {"-DCPU=" .. (opts.cpu or -1), "-DDIST=" .. (opts.dist and 1 or 0),
              "-DCOUNT_EVENTS=" .. (opts.count_events and 1 or 0), "-DFACTOR=" .. factor}}

local dist = b["dist"]

local function report()
  intervals.header(opts.timestamp)
  if opts.dist then
    dist:print_log2_hist(label, "hardirq")
  else
    local rows = {}
    for key, v in dist:items() do
      rows[#rows + 1] = {ffi.string(key.name), v}
    end
    table.sort(rows, function(x, y) return x[2] > y[2] end)
    print(string.format("%-26s %11s", "HARDIRQ", "TOTAL_" .. label))
    for _, r in ipairs(rows) do
      print(string.format("%-26s %11d", r[1], math.floor(r[2] / factor)))
    end
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print(opts.count_events and "Tracing hard irq events... Hit Ctrl-C to end." or
  "Tracing hard irq event time... Hit Ctrl-C to end.")
intervals.run{interval = opts.interval, count = opts.outputs, report = report}
