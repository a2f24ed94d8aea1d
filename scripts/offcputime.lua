-- offcputime.lua: time blocked off-CPU, by stack, as bcc's offcputime: each task's stacks
-- as it is switched out, and the time until it is switched in again.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "offcputime.lua [-h] [-p PID | -t TID | -u | -k] [-U | -K] [-d] [-f] [-s] " ..
    "[--stack-storage-size STACK_STORAGE_SIZE] [-m MIN_BLOCK_TIME] [-M MAX_BLOCK_TIME] " ..
    "[--state STATE] [duration]",
  description = "Summarize off-CPU time by stack trace",
  {"-p", "--pid", "tgids", "string", "trace these PIDs only, comma separated list", metavar = "PID"},
  {"-t", "--tid", "pids", "string", "trace these TIDs only, comma separated list", metavar = "TID"},
  {"-u", "--user-threads-only", "user_threads", "flag", "user threads only (no kernel threads)"},
  {"-k", "--kernel-threads-only", "kernel_threads", "flag", "kernel threads only (no user threads)"},
  {"-U", "--user-stacks-only", "user_only", "flag", "show stacks from user space only (no kernel space stacks)"},
  {"-K", "--kernel-stacks-only", "kernel_only", "flag", "show stacks from kernel space only (no user space stacks)"},
  {"-d", "--delimited", "delimited", "flag", "insert delimiter between kernel/user stacks"},
  {"-f", "--folded", "folded", "flag", "output folded format"},
  {"-s", "--offset", "offset", "flag", "show address offsets"},
  {nil, "--stack-storage-size", "stack_storage_size", "number",
    "the number of unique stack traces that can be stored and displayed (default 16384)"},
  {"-m", "--min-block-time", "min_block", "number",
    "the amount of time in microseconds over which we store traces (default 1)"},
  {"-M", "--max-block-time", "max_block", "number",
    "the amount of time in microseconds under which we store traces (default U64_MAX)"},
  {nil, "--state", "state", "number",
    "filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE) see include/linux/sched.h"},
  positional = {{"duration", "number", "duration of trace, in seconds"}},
  examples = [[examples:
    offcputime.lua             # trace off-CPU stack time until Ctrl-C
    offcputime.lua 5           # trace for 5 seconds only
    offcputime.lua -f 5        # 5 seconds, and output in folded format
    offcputime.lua -m 1000     # trace only events that last more than 1000 usec
    offcputime.lua -M 10000    # trace only events that last less than 10000 usec
    offcputime.lua -p 185      # only trace threads for PID 185
    offcputime.lua -t 188      # only trace thread 188
    offcputime.lua -u          # only trace user threads (no kernel)
    offcputime.lua -k          # only trace kernel threads (no user)
    offcputime.lua -U          # only show user space stacks (no kernel)
    offcputime.lua -K          # only show kernel space stacks (no user)]],
})
local exclusive = (opts.tgids and 1 or 0) + (opts.pids and 1 or 0) + (opts.user_threads and 1 or 0) +
  (opts.kernel_threads and 1 or 0)
if exclusive > 1 or (opts.user_only and opts.kernel_only) then
  io.stderr:write("offcputime.lua: -p, -t, -u and -k exclude each other, as do -U and -K\n")
  os.exit(2)
end

local function id_filter(list, v)
  return require("bpflua.args").id_filter("offcputime.lua", list, v)
end

local thread_filter = "1"
if opts.tgids then
  thread_filter = id_filter(opts.tgids, "tgid")
elseif opts.pids then
  thread_filter = id_filter(opts.pids, "pid")
elseif opts.user_threads then
  thread_filter = "!(flags & PF_KTHREAD)"
elseif opts.kernel_threads then
  thread_filter = "(flags & PF_KTHREAD)"
end

local b = BPF{text = [[
  #define PF_KTHREAD 0x00200000
  struct key_t { u64 pid; u64 tgid; s64 user_stack_id; s64 kernel_stack_id; char name[TASK_COMM_LEN]; };
  struct blocked { u64 ts; struct key_t key; };
  BPF_HASH(start, u32, struct blocked, 65536);
  BPF_HASH(counts, struct key_t, u64, 65536);
  BPF_STACK_TRACE(stack_traces, STACK_STORAGE_SIZE);

  /* At sched_switch the current task is still prev: its stacks are where it blocks. They are
   * kept with the time until it is switched back in, as next of a later switch. */
  RAW_TRACEPOINT_PROBE(sched_switch) {
    struct task_struct *prev = (struct task_struct *)ctx->args[1];
    struct task_struct *next = (struct task_struct *)ctx->args[2];
    u64 now = bpf_ktime_get_ns();
    u32 pid = BPF_CORE_READ(prev, pid), tgid = BPF_CORE_READ(prev, tgid);
    unsigned int flags = BPF_CORE_READ(prev, flags);
    unsigned int state = BPF_CORE_READ(prev, __state);
    if (pid != 0 && (THREAD_FILTER) && (STATE < 0 || (state & STATE) || (STATE == 0 && state == 0))) {
      struct blocked b = {.ts = now, .key = {.pid = pid, .tgid = tgid}};
      b.key.user_stack_id = USER_STACKS ? stack_traces.get_stackid(ctx, BPF_F_USER_STACK) : -1;
      b.key.kernel_stack_id = KERNEL_STACKS ? stack_traces.get_stackid(ctx, 0) : -1;
      bpf_get_current_comm(&b.key.name, sizeof(b.key.name));
      start.update(&pid, &b);
    }
    u32 next_pid = BPF_CORE_READ(next, pid);
    struct blocked *b = start.lookup(&next_pid);
    if (!b) return 0;
    u64 delta = (now - b->ts) / 1000;
    struct key_t key = b->key;
    start.delete(&next_pid);
    if (delta < MIN_BLOCK_US || delta > MAX_BLOCK_US) return 0;
    counts.increment(key, delta);
    return 0;
  }
]], cflags = {"-DTHREAD_FILTER=" .. thread_filter, "-DSTATE=" .. (opts.state or -1),
              "-DMIN_BLOCK_US=" .. (opts.min_block or 1) .. "ULL",
              "-DMAX_BLOCK_US=" .. (opts.max_block and (opts.max_block .. "ULL") or "0xffffffffffffffffULL"),
              "-DSTACK_STORAGE_SIZE=" .. (opts.stack_storage_size or 16384),
              "-DUSER_STACKS=" .. (opts.kernel_only and 0 or 1),
              "-DKERNEL_STACKS=" .. (opts.user_only and 0 or 1)}}

local function report()
  local rows = {}
  for key, count in b["counts"]:items() do
    rows[#rows + 1] = {key = key, count = count}
  end
  table.sort(rows, function(x, y) return x.count < y.count end)
  if not opts.folded then
    print()
  end
  local out = require("bpflua.stack_report").new(b, b["stack_traces"], opts)
  for _, row in ipairs(rows) do
    local k = row.key
    out:print(tonumber(k.user_stack_id), tonumber(k.kernel_stack_id), tonumber(k.tgid),
      tonumber(k.pid), ffi.string(k.name), row.count)
  end
  out:finish()
end

io.stdout:setvbuf("line")
if not opts.folded then
  local what = opts.tgids and ("PID " .. opts.tgids) or opts.pids and ("TID " .. opts.pids) or
    opts.user_threads and "user threads" or opts.kernel_threads and "kernel threads" or "all threads"
  local stacks = opts.user_only and "user" or opts.kernel_only and "kernel" or "user + kernel"
  print(string.format("Tracing off-CPU time (us) of %s by %s stack%s... Hit Ctrl-C to end.", what, stacks,
    opts.duration and (" for " .. opts.duration .. " secs") or ""))
end
require("bpflua.intervals").run{duration = opts.duration, report = report}
