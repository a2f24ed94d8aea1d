-- runqlen.lua: sample the scheduler's run queue length on every CPU and show it as a
-- histogram (or, with -O, how often a queue had a task waiting), as bcc's runqlen.
local BPF = require("bpflua")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "runqlen.lua [-h] [-T] [-O] [-C] [interval] [count]",
  description = "Summarize scheduler run queue length as a histogram",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-O", "--runqocc", "runqocc", "flag", "report run queue occupancy"},
  {"-C", "--cpus", "cpus", "flag", "print output for each CPU separately"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    runqlen.lua            # summarize run queue length as a histogram
    runqlen.lua 1 10       # print 1 second summaries, 10 times
    runqlen.lua -T 1       # 1s summaries and timestamps
    runqlen.lua -O         # report run queue occupancy
    runqlen.lua -C         # show each CPU separately]],
})

-- The CFS queue's task count was nr_running until Linux 6.14 named it nr_queued: read
-- whichever this kernel has (CO-RE checks both when the object loads).
local b = BPF{text = [[
  struct cfs_rq___new { unsigned int nr_queued; } __attribute__((preserve_access_index));
  struct cfs_rq___old { unsigned int nr_running; } __attribute__((preserve_access_index));
  struct cpu_slot { u64 cpu; u64 slot; };
  BPF_HISTOGRAM(dist, struct cpu_slot, 4096);

  int do_perf_event(struct bpf_perf_event_data *ctx) {
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    void *q = BPF_CORE_READ(task, se.cfs_rq);
    unsigned int len = 0;
    if (bpf_core_field_exists(((struct cfs_rq___new *)0)->nr_queued))
      len = BPF_CORE_READ((struct cfs_rq___new *)q, nr_queued);
    else
      len = BPF_CORE_READ((struct cfs_rq___old *)q, nr_running);
    /* the running task is not waiting: 0 is idle or one running, 1 one waiting */
    if (len > 0)
      len--;
    struct cpu_slot key = {.cpu = PER_CPU ? bpf_get_smp_processor_id() : 0, .slot = len};
    dist.atomic_increment(key);
    return 0;
  }
]], cflags = {"-DPER_CPU=" .. (opts.cpus and 1 or 0)}}
-- bcc samples at 99 Hz on every CPU, off the 100 Hz of common timers
b:attach_perf_event{ev_type = BPF.PerfType.SOFTWARE, ev_config = BPF.PerfSWConfig.CPU_CLOCK,
                    fn_name = "do_perf_event", sample_freq = 99}

local dist = b["dist"]

local function report()
  intervals.header(opts.timestamp)
  local by_cpu, all, max_cpu = {}, {}, 0
  for key, n in dist:items() do
    local cpu, slot = tonumber(key.cpu), tonumber(key.slot)
    by_cpu[cpu] = by_cpu[cpu] or {}
    by_cpu[cpu][slot] = (by_cpu[cpu][slot] or 0) + n
    all[slot] = (all[slot] or 0) + n
    max_cpu = math.max(max_cpu, cpu)
  end
  local function occupancy(slots)
    local idle, queued = 0, 0
    for slot, n in pairs(slots) do
      if slot == 0 then idle = idle + n else queued = queued + n end
    end
    return idle + queued > 0 and queued / (idle + queued) or 0
  end
  if opts.runqocc then
    if opts.cpus then
      for cpu = 0, max_cpu do
        print(string.format("runqocc, CPU %-3d %6.2f%%", cpu, 100 * occupancy(by_cpu[cpu] or {})))
      end
    else
      print(string.format("runqocc: %0.2f%%", 100 * occupancy(all)))
    end
  elseif opts.cpus then
    dist:print_linear_hist("runqlen", "cpu", nil, function(cpu) return cpu end)
  else
    require("bpflua.histogram").print_linear_slots(all, "runqlen")
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print("Sampling run queue length... Hit Ctrl-C to end.")
intervals.run{interval = opts.interval, count = opts.count, report = report}
