-- stackcount.lua: count the stacks that lead to events, as bcc's stackcount: user functions
-- ("c:malloc", "c:mal*", -r regexes) through uprobes, tracepoints ("t:sched:sched_switch"),
-- kernel functions through kprobes where the kernel has them.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "stackcount.lua [-h] [-p PID] [-c CPU] [-i INTERVAL] [-D DURATION] [-T] [-r] [-s] [-P] " ..
    "[-K] [-U] [-v] [-d] [-f] [--debug] pattern",
  description = "Count events and their stack traces",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-c", "--cpu", "cpu", "number", "trace this CPU only"},
  {"-i", "--interval", "interval", "number", "summary interval, seconds"},
  {"-D", "--duration", "duration", "number", "total duration of trace, seconds"},
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-r", "--regexp", "regexp", "flag", "use regular expressions. Default is \"*\" wildcards only."},
  {"-s", "--offset", "offset", "flag", "show address offsets"},
  {"-P", "--perpid", "perpid", "flag", "display stacks separately for each process"},
  {"-K", "--kernel-stacks-only", "kernel_only", "flag", "kernel stack only"},
  {"-U", "--user-stacks-only", "user_only", "flag", "user stack only"},
  {"-v", "--verbose", "verbose", "flag", "show raw addresses"},
  {"-d", "--delimited", "delimited", "flag", "insert delimiter between kernel/user stacks"},
  {"-f", "--folded", "folded", "flag", "output folded format"},
  {nil, "--debug", "debug", "flag", "print BPF program before starting (for debugging purposes)"},
  positional = {{"pattern", "string", "search expression for events"}},
  examples = [[examples:
    stackcount.lua submit_bio         # count kernel stack traces for submit_bio
    stackcount.lua -d ip_output       # include a user/kernel stack delimiter
    stackcount.lua -s ip_output       # show symbol offsets
    stackcount.lua -sv ip_output      # show offsets and raw addresses (verbose)
    stackcount.lua 'tcp_send*'        # count stacks for funcs matching tcp_send*
    stackcount.lua -r '^tcp_send.*'   # same as above, using regular expressions
    stackcount.lua -Ti 5 ip_output    # output every 5 seconds, with timestamps
    stackcount.lua -p 185 ip_output   # count ip_output stacks for PID 185 only
    stackcount.lua -c 1 put_prev_entity   # count put_prev_entity stacks for CPU 1 only
    stackcount.lua -p 185 c:malloc    # count stacks for malloc in PID 185
    stackcount.lua t:sched:sched_fork # count stacks for sched_fork tracepoint
    stackcount.lua -p 185 u:node:*    # count stacks for all USDT probes in node
    stackcount.lua -K t:sched:sched_switch   # kernel stacks only
    stackcount.lua -U t:sched:sched_switch   # user stacks only]],
})

local function fail(message)
  io.stderr:write("stackcount.lua: " .. message .. "\n")
  os.exit(1)
end

local pattern = opts[1]
if not pattern or opts[2] then
  io.stderr:write("stackcount.lua: give one pattern, e.g. c:malloc or t:sched:sched_switch\n")
  os.exit(2)
end
if opts.kernel_only and opts.user_only then
  fail("ERROR: -K and -U are mutually exclusive. If you want both stacks, that is the default.")
end
if opts.duration and not opts.interval then
  opts.interval = opts.duration
end
local user_stack, kernel_stack = not opts.kernel_only, not opts.user_only
local per_pid = opts.perpid or (opts.pid and opts.pid > 0)
local need_delimiter = opts.delimited and user_stack and kernel_stack

-- bcc's pattern forms: func, lib:func, p::func, p:lib:func, t:cat:event, u:lib:probe.
local parts = {}
for part in (pattern .. ":"):gmatch("([^:]*):") do
  parts[#parts + 1] = part
end
local kind, library, name
if #parts == 1 then
  kind, library, name = "p", "", parts[1]
elseif #parts == 2 then
  kind, library, name = "p", parts[1], parts[2]
elseif #parts == 3 then
  kind, library, name = parts[1], parts[2], parts[3]
  if kind == "t" then
    library, name = "", parts[2] .. ":" .. parts[3]
  elseif kind ~= "p" and kind ~= "u" then
    fail("Type must be 'p', 't', or 'u', but got " .. kind)
  end
else
  fail("Too many ':'-separated components in pattern " .. pattern)
end
if not opts.regexp then
  name = "^" .. name:gsub("%*", ".*") .. "$"
end
local kernel_probe = kind == "t" or library == ""

local filters = {}
if kernel_probe and opts.pid then
  filters[#filters + 1] = "if ((bpf_get_current_pid_tgid() >> 32) != " .. opts.pid .. ") return 0;"
end
if opts.cpu then
  filters[#filters + 1] = "if (bpf_get_smp_processor_id() != " .. opts.cpu .. ") return 0;"
end

local text = [[
  struct key_t {
    u32 tgid;  /* no thread id, so that a process's threads share a key */
    int kernel_stack_id;
    int user_stack_id;
    char name[TASK_COMM_LEN];
  };
  BPF_HASH(counts, struct key_t);
  BPF_STACK_TRACE(stack_traces, 1024);

  static __always_inline int count_stack(void *ctx) {
    FILTER
    struct key_t key = {};
    if (PER_PID) {
      key.tgid = bpf_get_current_pid_tgid() >> 32;
      bpf_get_current_comm(&key.name, sizeof(key.name));
    } else {
      key.tgid = 0xffffffff;
    }
    key.user_stack_id = USER_STACK ? stack_traces.get_stackid(ctx, BPF_F_USER_STACK) : -1;
    key.kernel_stack_id = KERNEL_STACK ? stack_traces.get_stackid(ctx, 0) : -1;
    counts.atomic_increment(key);
    return 0;
  }
  int trace_count(void *ctx) { return count_stack(ctx); }
]]
text = text:gsub("FILTER", table.concat(filters, "\n    "))

-- USDT probes (u:lib:probe): one program per matched probe, as bcc, each enabled in a USDT
-- context of the binary (and of the process, with -p).
local usdt_context, usdt_matched
if kind == "u" then
  local match = require("bpflua.patterns").compile(name, "stackcount.lua")
  local path = require("bpflua.attach").find_library(library)
  if not path then
    fail("unable to find library " .. library)
  end
  usdt_context = BPF.USDT{path = path, pid = opts.pid}
  usdt_matched = 0
  local seen = {}
  for _, probe in ipairs(require("bpflua.usdt").probes(path)) do
    local full = probe.provider .. ":" .. probe.name
    if match(probe.name) and not seen[full] then
      seen[full] = true
      text = text .. string.format("  int trace_count_%d(void *ctx) { return count_stack(ctx); }\n", usdt_matched)
      usdt_context:enable_probe{probe = full, fn_name = "trace_count_" .. usdt_matched}
      usdt_matched = usdt_matched + 1
    end
  end
end
if opts.debug then
  print(text)
end

local b = BPF{text = text, usdt_contexts = usdt_context and {usdt_context}, cflags = {"-DPER_PID=" .. (per_pid and 1 or 0),
  "-DUSER_STACK=" .. (user_stack and 1 or 0), "-DKERNEL_STACK=" .. (kernel_stack and 1 or 0)}}

local patterns = require("bpflua.patterns")
local matched
if kind == "u" then
  matched = usdt_matched
elseif kind == "t" then
  matched = #patterns.get_tracepoints(name)
  if matched > 0 then
    b:attach_tracepoint{tp_re = name, fn_name = "trace_count"}
  end
else
  local refused, why
  matched, refused, why = require("bpflua.function_probes").attach(b, {library = library,
    pattern = name, entry = "trace_count", pid = opts.pid, tool = "stackcount.lua"})
  if refused == "library" then
    fail("unable to find library " .. library)
  elseif refused == "kprobes" then
    fail("kernel function patterns need kprobes, which this kernel refused: " .. why ..
      "\n(user functions as lib:func and tracepoints as t:cat:event work without them)")
  end
end
if matched == 0 then
  fail("No functions matched by pattern " .. name)
end

local function frame(addr, text_)
  if opts.verbose then
    print(string.format("  %-16s %s", bit.tohex(addr, 16):gsub("^0+(.)", "%1"), text_))
  else
    print("  " .. text_)
  end
end

local function list(id)
  local frames = {}
  if id >= 0 then
    for addr in b["stack_traces"]:walk(id) do
      frames[#frames + 1] = addr
    end
  end
  return frames
end

local function report()
  if not opts.folded then
    print()
  end
  if opts.timestamp then
    print(string.format("%-8s", os.date("%H:%M:%S")))
  end
  local counts = b["counts"]
  local rows = {}
  for key, value in counts:items() do
    rows[#rows + 1] = {key = key, count = tonumber(value)}
  end
  counts:clear()
  table.sort(rows, function(x, y) return x.count < y.count end)
  for _, row in ipairs(rows) do
    local k = row.key
    local tgid = tonumber(k.tgid)
    local user, kernel = list(tonumber(k.user_stack_id)), list(tonumber(k.kernel_stack_id))
    if opts.folded then
      local line = {ffi.string(k.name)}
      for i = #user, 1, -1 do
        line[#line + 1] = b:sym(user[i], tgid)
      end
      if need_delimiter then
        line[#line + 1] = "-"
      end
      for i = #kernel, 1, -1 do
        line[#line + 1] = BPF.ksym(kernel[i])
      end
      print(string.format("%s %d", table.concat(line, ";"), row.count))
    else
      for _, addr in ipairs(kernel) do
        frame(addr, BPF.ksym(addr, false, opts.offset))
      end
      if need_delimiter then
        print("    --")
      end
      for _, addr in ipairs(user) do
        frame(addr, b:sym(addr, tgid, false, opts.offset))
      end
      if not opts.pid and tgid ~= 0xffffffff then
        print(string.format("    %s [%d]", ffi.string(k.name), tgid))
      end
      print(string.format("    %d\n", row.count))
    end
  end
end

io.stdout:setvbuf("line")
if not opts.folded then
  print(string.format("Tracing %d functions for \"%s\"... Hit Ctrl-C to end.", matched, pattern))
end
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration,
  report = report, detaching = not opts.folded}
