-- cpudist.lua: on-CPU (or, with -O, off-CPU) time per scheduling as a histogram, as bcc's
-- cpudist.
local BPF = require("bpflua")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "cpudist.lua [-h] [-O] [-T] [-m] [-P] [-L] [-p PID] [-I] [-e] [interval] [count]",
  description = "Summarize on-CPU time per task as a histogram.",
  {"-O", "--offcpu", "offcpu", "flag", "measure off-CPU time"},
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-m", "--milliseconds", "milliseconds", "flag", "millisecond histogram"},
  {"-P", "--pids", "pids", "flag", "print a histogram per process ID"},
  {"-L", "--tids", "tids", "flag", "print a histogram per thread ID"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-I", "--include-idle", "idle", "flag", "include CPU idle time"},
  {"-e", "--extension", "extension", "flag", "show extension summary (average/total/count)"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    cpudist.lua              # summarize on-CPU time as a histogram
    cpudist.lua -O           # summarize off-CPU time as a histogram
    cpudist.lua 1 10         # print 1 second summaries, 10 times
    cpudist.lua -mT 1        # 1s summaries, milliseconds, and timestamps
    cpudist.lua -P           # show each PID separately
    cpudist.lua -p 185       # trace PID 185 only
    cpudist.lua -I           # include CPU idle time
    cpudist.lua -e           # show extension summary (average/total/count)]],
})
if opts.pids and opts.tids then
  io.stderr:write("cpudist.lua: -P and -L exclude each other\n")
  os.exit(2)
end
local section = opts.pids and 1 or opts.tids and 2 or 0

-- On-CPU time runs from a task being switched in to it being switched out; off-CPU time the
-- other way round. sched_switch's raw arguments are the two tasks.
local b = BPF{text = [[
  struct section_slot { u64 section; u64 slot; };
  struct ext_val { u64 total; u64 count; };
  BPF_HASH(start, u32, u64, 65536);
  BPF_HISTOGRAM(dist, struct section_slot, 64 * 1024);
  BPF_ARRAY(extension, struct ext_val, 1);

  static int wanted(u32 tid, u32 tgid)
  {
    if (PID && tgid != PID) return 0;
    if (!IDLE && tid == 0) return 0;
    return 1;
  }

  RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    u32 prev_tid = BPF_CORE_READ(prev, pid), prev_tgid = BPF_CORE_READ(prev, tgid);
    u32 next_tid = BPF_CORE_READ(next, pid), next_tgid = BPF_CORE_READ(next, tgid);
    u64 now = bpf_ktime_get_ns();
    /* the task whose interval begins now, and the one whose interval ends */
    u32 begins = OFFCPU ? prev_tid : next_tid, begins_tgid = OFFCPU ? prev_tgid : next_tgid;
    u32 ends = OFFCPU ? next_tid : prev_tid, ends_tgid = OFFCPU ? next_tgid : prev_tgid;
    if (wanted(begins, begins_tgid))
      start.update(&begins, &now);
    if (!wanted(ends, ends_tgid))
      return 0;
    u64 *ts = start.lookup(&ends);
    if (!ts)
      return 0;
    u64 delta = (now - *ts) / UNIT_NS;
    start.delete(&ends);
    struct section_slot key = {.slot = bpf_log2l(delta)};
    if (SECTION == 1) key.section = ends_tgid;
    else if (SECTION == 2) key.section = ends;
    dist.atomic_increment(key);
    if (EXTENSION) {
      int zero = 0;
      struct ext_val *e = extension.lookup(&zero);
      if (e) {
        __sync_fetch_and_add(&e->total, delta);
        __sync_fetch_and_add(&e->count, 1);
      }
    }
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DSECTION=" .. section,
              "-DOFFCPU=" .. (opts.offcpu and 1 or 0), "-DIDLE=" .. (opts.idle and 1 or 0),
              "-DEXTENSION=" .. (opts.extension and 1 or 0),
              "-DUNIT_NS=" .. (opts.milliseconds and 1000000 or 1000)}}

local dist, extension = b["dist"], b["extension"]
local label = opts.milliseconds and "msecs" or "usecs"

-- "185 bash", as bcc names a section, or the bare id when the task has gone.
local function with_comm(id)
  local f = io.open("/proc/" .. id .. "/comm")
  if not f then
    return tostring(id)
  end
  local comm = f:read("*l")
  f:close()
  return id .. " " .. comm
end

local function report()
  intervals.header(opts.timestamp)
  if section > 0 then
    dist:print_log2_hist(label, section == 1 and "pid" or "tid", with_comm)
  else
    local merged = {}
    for key, count in dist:items() do
      local slot = tonumber(key.slot)
      merged[slot] = (merged[slot] or 0) + count
    end
    require("bpflua.histogram").print_log2_slots(merged, label)
  end
  if opts.extension then
    local e = extension:get(0)
    local total, count = tonumber(e.total), tonumber(e.count)
    if count > 0 then
      print(string.format("\navg = %d %s, total: %d %s, count: %d\n", math.floor(total / count),
        label, total, label, count))
    end
    extension:zero()
  end
  dist:clear()
end

io.stdout:setvbuf("line")
print(string.format("Tracing %s-CPU time... Hit Ctrl-C to end.", opts.offcpu and "off" or "on"))
intervals.run{interval = opts.interval, count = opts.count, report = report}
