-- funclatency.lua: time functions and print their latency as a log2 histogram, as bcc's
-- funclatency: user functions ("c:read", "c:*printf", -r regexes) through uprobes and
-- uretprobes; kernel functions through kprobes where the kernel has them.
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "funclatency.lua [-h] [-p PID] [-i INTERVAL] [-d DURATION] [-T] [-u] [-m] [-F] [-r] " ..
    "[-l LEVEL] [-v] pattern",
  description = "Time functions and print latency as a histogram",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-i", "--interval", "interval", "number", "summary interval, in seconds"},
  {"-d", "--duration", "duration", "number", "total duration of trace, in seconds"},
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-u", "--microseconds", "microseconds", "flag", "microsecond histogram"},
  {"-m", "--milliseconds", "milliseconds", "flag", "millisecond histogram"},
  {"-F", "--function", "per_function", "flag", "show a separate histogram per function"},
  {"-r", "--regexp", "regexp", "flag", "use regular expressions. Default is \"*\" wildcards only."},
  {"-l", "--level", "level", "number", "set the level of nested or recursive functions"},
  {"-v", "--verbose", "verbose", "flag", "print the BPF program (for debugging purposes)"},
  positional = {{"pattern", "string", "search expression for functions"}},
  examples = [[examples:
    funclatency.lua do_sys_open       # time the do_sys_open() kernel function
    funclatency.lua c:read            # time the read() C library function
    funclatency.lua -u vfs_read       # time vfs_read(), in microseconds
    funclatency.lua -m do_nanosleep   # time do_nanosleep(), in milliseconds
    funclatency.lua -i 2 -d 10 c:open # output every 2 seconds, for duration 10s
    funclatency.lua -m -T -i 5 vfs_read   # output every 5 seconds, with timestamps
    funclatency.lua -p 181 vfs_read   # time process 181 only
    funclatency.lua 'vfs_fstat*'      # time both vfs_fstat() and vfs_fstatat()
    funclatency.lua 'c:*printf'       # time the *printf family of functions
    funclatency.lua -F 'vfs_r*'       # show one histogram per matched function]],
})

local function fail(message)
  io.stderr:write("funclatency.lua: " .. message .. "\n")
  os.exit(1)
end

local pattern = opts[1]
if not pattern or opts[2] then
  io.stderr:write("funclatency.lua: give one pattern, e.g. c:read or 'c:*printf'\n")
  os.exit(2)
end
if opts.microseconds and opts.milliseconds then
  fail("-u and -m exclude each other")
end
if opts.duration and not opts.interval then
  opts.interval = opts.duration
end
if opts.level and opts.level < 1 then
  fail("-l needs a level of 1 or more")
end

local library, name = pattern:match("^([^:]*):(.*)$")
if not library then
  library, name = "", pattern
end
if not opts.regexp then
  name = "^" .. name:gsub("%*", ".*") .. "$"
end

local label, factor = "nsecs", 1
if opts.milliseconds then
  label, factor = "msecs", 1000000
elseif opts.microseconds then
  label, factor = "usecs", 1000
end

-- Each thread's calls in flight, by depth: a call deeper than LEVEL (nested or recursive)
-- is not timed, but counted so that the returns pair with their calls.
local text = [[
  struct start_key { u32 tid; u32 depth; };
  struct start_val { u64 ts; u64 ip; };
  struct hist_key { u64 ip; u64 slot; };
  BPF_HASH(depths, u32, u32);
  BPF_HASH(start, struct start_key, struct start_val);
  BPF_HASH(ip_pid, u64, u32);  /* a process each function address belongs to, to name it */
  BPF_HISTOGRAM(dist, HIST_KEY);
  BPF_ARRAY(avg, u64, 2);

  int trace_func_entry(struct pt_regs *ctx) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = id;
    if (PID && tgid != PID) return 0;
    u32 zero = 0, *depth = depths.lookup_or_try_init(&tid, &zero);
    if (!depth) return 0;
    u32 d = *depth;
    *depth = d + 1;
    if (d >= LEVEL) return 0;
    struct start_key key = {.tid = tid, .depth = d};
    struct start_val val = {.ts = bpf_ktime_get_ns(), .ip = PT_REGS_IP(ctx)};
    start.update(&key, &val);
    return 0;
  }

  int trace_func_return(struct pt_regs *ctx) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = id;
    if (PID && tgid != PID) return 0;
    u32 *depth = depths.lookup(&tid);
    if (!depth || *depth == 0) return 0;  /* a call made before tracing began */
    u32 d = *depth - 1;
    *depth = d;
    if (d >= LEVEL) return 0;
    struct start_key key = {.tid = tid, .depth = d};
    struct start_val *val = start.lookup(&key);
    if (!val) return 0;
    u64 delta = bpf_ktime_get_ns() - val->ts;
    u64 ip = val->ip;
    start.delete(&key);
    u32 index = 0;
    u64 *total = avg.lookup(&index);
    if (total) __sync_fetch_and_add(total, delta);
    index = 1;
    u64 *count = avg.lookup(&index);
    if (count) __sync_fetch_and_add(count, 1);
    delta /= FACTOR;
#if PER_FUNCTION
    ip_pid.update(&ip, &tgid);
    struct hist_key hkey = {.ip = ip, .slot = bpf_log2l(delta)};
    dist.atomic_increment(hkey);
#else
    dist.atomic_increment(bpf_log2l(delta));
#endif
    return 0;
  }
]]
if opts.verbose then
  print(text)
end
local b = BPF{text = text, cflags = {"-DPID=" .. (opts.pid or 0), "-DLEVEL=" .. (opts.level or 1),
  "-DFACTOR=" .. factor .. "ULL", "-DPER_FUNCTION=" .. (opts.per_function and 1 or 0),
  "-DHIST_KEY=" .. (opts.per_function and "struct hist_key" or "u64")}}

local matched, refused, why = require("bpflua.function_probes").attach(b, {library = library,
  pattern = name, entry = "trace_func_entry", exit = "trace_func_return", pid = opts.pid,
  tool = "funclatency.lua"})
if refused == "library" then
  fail("can't find library " .. library)
elseif refused == "kprobes" then
  fail("kernel functions need kprobes, which this kernel refused: " .. why ..
    "\n(user functions, as lib:function, work without them)")
end
if matched == 0 then
  fail("No functions matched by pattern " .. name)
end

local function function_name(ip)
  local pid = b["ip_pid"]:get(ip)
  if library == "" then
    return BPF.ksym(ip)
  end
  return string.format("%s [%d]", b:sym(ip, pid and tonumber(pid) or -1), pid and tonumber(pid) or -1)
end

local function report()
  print()
  if opts.timestamp then
    print(string.format("%-8s", os.date("%H:%M:%S")))
  end
  local dist = b["dist"]
  if opts.per_function then
    dist:print_log2_hist(label, "Function", function_name)
  else
    dist:print_log2_hist(label)
  end
  local avg = b["avg"]
  local total, count = tonumber(avg:get(0)), tonumber(avg:get(1))
  if count > 0 then
    total = math.floor(total / factor)
    print(string.format("\navg = %d %s, total: %d %s, count: %d\n", math.floor(total / count), label,
      total, label, count))
  end
  dist:clear()
  avg:set(0, 0)
  avg:set(1, 0)
end

io.stdout:setvbuf("line")
print(string.format("Tracing %d functions for \"%s\"... Hit Ctrl-C to end.", matched, pattern))
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration,
  report = report, detaching = true}
