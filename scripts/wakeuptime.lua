-- wakeuptime.lua: time blocked, summed by the kernel stack of the waker, as bcc's wakeuptime:
-- a task's time off-CPU runs from its sched_switch to its sched_wakeup, and is charged to
-- the stack of whoever woke it.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "wakeuptime.lua [-h] [-u] [-p PID] [-v] [-f] [--stack-storage-size STACK_STORAGE_SIZE] " ..
    "[-m MIN_BLOCK_TIME] [-M MAX_BLOCK_TIME] [duration]",
  description = "Summarize sleep to wakeup time by waker kernel stack",
  {"-u", "--useronly", "useronly", "flag", "user threads only (no kernel threads)"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-v", "--verbose", "verbose", "flag", "show raw addresses"},
  {"-f", "--folded", "folded", "flag", "output folded format"},
  {nil, "--stack-storage-size", "stack_storage_size", "number",
    "the number of unique stack traces that can be stored and displayed (default 16384)"},
  {"-m", "--min-block-time", "min_block", "number",
    "the amount of time in microseconds over which we store traces (default 1)"},
  {"-M", "--max-block-time", "max_block", "number",
    "the amount of time in microseconds under which we store traces (default U64_MAX)"},
  positional = {{"duration", "number", "duration of trace, in seconds"}},
  examples = [[examples:
    wakeuptime.lua             # trace blocked time with waker stacks
    wakeuptime.lua 5           # trace for 5 seconds only
    wakeuptime.lua -f 5        # 5 seconds, and output in folded format
    wakeuptime.lua -u          # don't include kernel threads (user only)
    wakeuptime.lua -p 185      # trace for PID 185 only]],
})

local filter = opts.pid and ("tgid != " .. opts.pid) or opts.useronly and "(flags & PF_KTHREAD)" or "0"

local b = BPF{text = [[
  #define PF_KTHREAD 0x00200000
  struct key_t { s64 w_k_stack_id; char waker[TASK_COMM_LEN]; char target[TASK_COMM_LEN]; };
  BPF_HASH(counts, struct key_t, u64, 65536);
  BPF_HASH(start, u32, u64, 65536);
  BPF_STACK_TRACE(stack_traces, STACK_STORAGE_SIZE);

  RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *p = (struct task_struct *)ctx->args[1];   /* prev, going to sleep */
    u32 tid = BPF_CORE_READ(p, pid), tgid = BPF_CORE_READ(p, tgid);
    unsigned int flags = BPF_CORE_READ(p, flags);
    if (FILTER) return 0;
    u64 ts = bpf_ktime_get_ns();
    start.update(&tid, &ts);
    return 0;
  }

  RAW_TRACEPOINT_PROBE(sched_wakeup) {
    struct task_struct *p = (struct task_struct *)ctx->args[0];   /* the task woken */
    u32 tid = BPF_CORE_READ(p, pid);
    u64 *tsp = start.lookup(&tid);
    if (!tsp) return 0;
    u64 delta = (bpf_ktime_get_ns() - *tsp) / 1000;
    start.delete(&tid);
    if (delta < MIN_BLOCK_US || delta > MAX_BLOCK_US) return 0;
    struct key_t key = {};
    key.w_k_stack_id = stack_traces.get_stackid(ctx, 0);
    BPF_CORE_READ_STR_INTO(&key.target, p, comm);
    bpf_get_current_comm(&key.waker, sizeof(key.waker));
    counts.atomic_increment(key, delta);
    return 0;
  }
]], cflags = {"-DFILTER=" .. filter, "-DSTACK_STORAGE_SIZE=" .. (opts.stack_storage_size or 16384),
              "-DMIN_BLOCK_US=" .. (opts.min_block or 1) .. "ULL",
              "-DMAX_BLOCK_US=" .. (opts.max_block and (opts.max_block .. "ULL") or "0xffffffffffffffffULL")}}

local is_tracing_frame = require("bpflua.stack_report").is_tracing_frame

local function report()
  if not opts.folded then
    print()
  end
  local rows, missing = {}, 0
  for key, usecs in b["counts"]:items_lookup_and_delete_batch() do
    rows[#rows + 1] = {key = key, usecs = usecs}
  end
  table.sort(rows, function(x, y) return x.usecs < y.usecs end)
  local stacks = b["stack_traces"]
  for _, row in ipairs(rows) do
    local k = row.key
    local id = tonumber(k.w_k_stack_id)
    if id == -12 then
      missing = missing + 1
    else
      local frames = {}
      for addr in stacks:walk(id) do
        local name = BPF.ksym(addr)
        if not (#frames == 0 and is_tracing_frame(name)) then
          frames[#frames + 1] = {addr = addr, name = name}
        end
      end
      local waker, target = ffi.string(k.waker), ffi.string(k.target)
      if opts.folded then
        local line = {waker}
        for i = #frames, 1, -1 do
          line[#line + 1] = frames[i].name
        end
        line[#line + 1] = target
        print(string.format("%s %d", table.concat(line, ";"), row.usecs))
      else
        print(string.format("    %-16s %s", "target:", target))
        for _, f in ipairs(frames) do
          if opts.verbose then
            print(string.format("    %-16s %s", string.format("%x", f.addr), BPF.ksym(f.addr, false, true)))
          else
            print(string.format("    %-16s %s", "", f.name))
          end
        end
        print(string.format("    %-16s %s", "waker:", waker))
        print(string.format("        %d\n", row.usecs))
      end
    end
  end
  if missing > 0 then
    io.stderr:write(string.format("WARNING: %d stack traces could not be displayed. Consider increasing --stack-storage-size.\n", missing))
  end
  if not opts.folded then
    print("Detaching...")
  end
end

io.stdout:setvbuf("line")
if not opts.folded then
  print("Tracing blocked time (us) by kernel stack" ..
    (opts.duration and string.format(" for %d secs.", opts.duration) or "... Hit Ctrl-C to end."))
end
require("bpflua.intervals").run{duration = opts.duration, report = report}
