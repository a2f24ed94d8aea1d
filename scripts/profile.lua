-- profile.lua: sample stacks on every CPU at a fixed frequency with a perf event, as bcc's
-- profile does, and print them at the end, or folded (one line per stack) for flame graphs:
--   bpflua scripts/profile.lua -af 10 > out.folded; flamegraph.pl out.folded > out.svg
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "profile.lua [-h] [-p PID | -L TID] [-U | -K] [-F FREQUENCY | -c COUNT] [-d] [-a] " ..
    "[-I] [-f] [--hash-storage-size HASH_STORAGE_SIZE] [--stack-storage-size STACK_STORAGE_SIZE] " ..
    "[-C CPU] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [duration]",
  description = "Profile CPU stack traces at a timed interval",
  {"-p", "--pid", "pids", "string", "profile processes with one or more comma-separated PIDs only", metavar = "PID"},
  {"-L", "--tid", "tids", "string", "profile threads with one or more comma-separated TIDs only", metavar = "TID"},
  {"-U", "--user-stacks-only", "user_only", "flag", "show stacks from user space only (no kernel space stacks)"},
  {"-K", "--kernel-stacks-only", "kernel_only", "flag", "show stacks from kernel space only (no user space stacks)"},
  {"-F", "--frequency", "frequency", "number", "sample frequency, Hertz"},
  {"-c", "--count", "count", "number", "sample period, number of events"},
  {"-d", "--delimited", "delimited", "flag", "insert delimiter between kernel/user stacks"},
  {"-a", "--annotations", "annotations", "flag", "add _[k] annotations to kernel frames"},
  {"-I", "--include-idle", "include_idle", "flag", "include CPU idle stacks"},
  {"-f", "--folded", "folded", "flag", "output folded format, one line per stack (for flame graphs)"},
  {nil, "--hash-storage-size", "hash_storage_size", "number",
    "the number of hash keys that can be stored and (default 40960)"},
  {nil, "--stack-storage-size", "stack_storage_size", "number",
    "the number of unique stack traces that can be stored and displayed (default 16384)"},
  {"-C", "--cpu", "cpu", "number", "cpu number to run profile on"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  positional = {{"duration", "number", "duration of trace, in seconds"}},
  examples = [[examples:
    profile.lua             # profile stack traces at 49 Hertz until Ctrl-C
    profile.lua -F 99       # profile stack traces at 99 Hertz
    profile.lua -c 1000000  # profile stack traces every 1 in a million events
    profile.lua 5           # profile at 49 Hertz for 5 seconds only
    profile.lua -f 5        # output in folded format for flame graphs
    profile.lua -p 185      # only profile process with PID 185
    profile.lua -L 185      # only profile thread with TID 185
    profile.lua -U          # only show user space stacks (no kernel)
    profile.lua -K          # only show kernel space stacks (no user)
(bcc's -A is not offered.)]],
})
if (opts.user_only and opts.kernel_only) or (opts.pids and opts.tids) or (opts.frequency and opts.count) then
  io.stderr:write("profile.lua: -U/-K, -p/-L and -F/-c exclude each other\n")
  os.exit(2)
end

local function id_filter(list, v)
  return require("bpflua.args").id_filter("profile.lua", list, v)
end

local b = BPF{text = args.container_filter("profile.lua", opts) .. [[
  struct key_t {
    u32 pid;
    u32 tgid;
    int user_stack_id;
    int kernel_stack_id;
    char name[TASK_COMM_LEN];
  };
  BPF_HASH(counts, struct key_t, u64, HASH_STORAGE_SIZE);
  BPF_STACK_TRACE(stack_traces, STACK_STORAGE_SIZE);

  int do_perf_event(struct bpf_perf_event_data *ctx) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, pid = (u32)id;
    if (!INCLUDE_IDLE && pid == 0)
      return 0;
    if (!(PID_FILTER) || !(TID_FILTER))
      return 0;
    if (container_should_be_filtered())
      return 0;
    struct key_t key = {.pid = pid, .tgid = tgid};
    bpf_get_current_comm(&key.name, sizeof(key.name));
    key.user_stack_id = KERNEL_ONLY ? -1 : stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    key.kernel_stack_id = USER_ONLY ? -1 : stack_traces.get_stackid(ctx, 0);
    counts.increment(key);
    return 0;
  }
]], cflags = {"-DPID_FILTER=" .. id_filter(opts.pids, "tgid"), "-DTID_FILTER=" .. id_filter(opts.tids, "pid"),
              "-DINCLUDE_IDLE=" .. (opts.include_idle and 1 or 0),
              "-DUSER_ONLY=" .. (opts.user_only and 1 or 0),
              "-DKERNEL_ONLY=" .. (opts.kernel_only and 1 or 0),
              "-DHASH_STORAGE_SIZE=" .. (opts.hash_storage_size or 40960),
              "-DSTACK_STORAGE_SIZE=" .. (opts.stack_storage_size or 16384)}}

local frequency = not opts.count and (opts.frequency or 49) or nil
b:attach_perf_event{ev_type = BPF.PerfType.SOFTWARE, ev_config = BPF.PerfSWConfig.CPU_CLOCK,
                    fn_name = "do_perf_event", sample_freq = frequency, sample_period = opts.count,
                    cpu = opts.cpu}

local function report()
  local rows = {}
  for key, count in b["counts"]:items() do
    rows[#rows + 1] = {key = key, count = count}
  end
  table.sort(rows, function(x, y) return x.count < y.count end)
  local out = require("bpflua.stack_report").new(b, b["stack_traces"], {
    folded = opts.folded, delimited = opts.delimited, user_only = opts.user_only,
    kernel_only = opts.kernel_only, kernel_suffix = opts.annotations and "_[k]" or nil})
  for _, row in ipairs(rows) do
    local k = row.key
    out:print(k.user_stack_id, k.kernel_stack_id, k.tgid, k.pid, ffi.string(k.name), row.count)
  end
  out:finish()
end

io.stdout:setvbuf("line")
if not opts.folded then
  local thread = opts.pids and ("PID " .. opts.pids) or opts.tids and ("TID " .. opts.tids) or "all threads"
  local stack = opts.user_only and "user" or opts.kernel_only and "kernel" or "user + kernel"
  local line = string.format("Sampling at %s of %s by %s stack",
    frequency and (frequency .. " Hertz") or ("every " .. opts.count .. " events"), thread, stack)
  if opts.cpu then
    line = line .. " on CPU#" .. opts.cpu
  end
  print(line .. (opts.duration and (" for " .. opts.duration .. " secs.") or "... Hit Ctrl-C to end."))
end
require("bpflua.intervals").run{duration = opts.duration, report = report}
