-- funccount.lua: count calls to functions and tracepoints, as bcc's funccount: user functions
-- as "lib:pattern" ("c:malloc", "c:str*", -r regexes) through uprobes, tracepoints as
-- "t:cat:event" (wildcards too), kernel functions through kprobes where the kernel has them.
-- Each pattern names what it matches; several patterns may be given.
local BPF = require("bpflua")
local patterns = require("bpflua.patterns")
local opts = require("bpflua.args").parse(arg, {
  usage = "funccount.lua [-h] [-p PID] [-i INTERVAL] [-d DURATION] [-T] [-r] [-D] [-c CPU] pattern [pattern ...]",
  description = "Count functions, tracepoints, e.g. funccount.lua c:malloc c:free",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-i", "--interval", "interval", "number", "summary interval, seconds"},
  {"-d", "--duration", "duration", "number", "total duration of trace, seconds"},
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-r", "--regexp", "regexp", "flag", "use regular expressions. Default is \"*\" wildcards only."},
  {"-D", "--debug", "debug", "flag", "print BPF program before starting (for debugging purposes)"},
  {"-c", "--cpu", "cpu", "number", "trace this CPU only"},
  positional = {{"pattern", "list", "search expression for events"}},
  examples = [[examples:
    funccount.lua 'vfs_*'             # count kernel fns starting with "vfs"
    funccount.lua -r '^vfs.*'         # same as above, using regular expressions
    funccount.lua -T -i 5 'vfs_*'     # output every 5 seconds, with timestamps
    funccount.lua -d 10 'vfs_*'       # trace for 10 seconds only
    funccount.lua -p 185 'vfs_*'      # count vfs calls for PID 181 only
    funccount.lua t:sched:sched_fork  # count calls to the sched_fork tracepoint
    funccount.lua -p 185 c:malloc     # count malloc calls for PID 185 only
    funccount.lua c:malloc c:free     # count malloc and free calls
    funccount.lua 'c:str*'            # count all str* calls in libc
    funccount.lua -c 1 'vfs_*'        # count vfs calls on CPU 1 only]],
})

local function fail(message)
  io.stderr:write("funccount.lua: " .. message .. "\n")
  os.exit(1)
end

if #opts == 0 then
  io.stderr:write("funccount.lua: name at least one LIB:FUNCTION, TRACEPOINT or FUNCTION pattern, e.g. c:malloc\n")
  os.exit(2)
end

local function expression(name)
  if opts.regexp then
    return name
  end
  return "^" .. name:gsub("%*", ".*") .. "$"
end

-- Every probe the patterns match: {kind, label (as printed), target, ...}.
local probes = {}
for i = 1, #opts do
  local pattern = opts[i]
  local parts = {}
  for part in (pattern .. ":"):gmatch("([^:]*):") do
    parts[#parts + 1] = part
  end
  local before = #probes
  if #parts == 3 and parts[1] == "t" then
    local re = expression(parts[2] .. ":" .. parts[3])
    for _, tp in ipairs(patterns.get_tracepoints(re, "funccount.lua")) do
      probes[#probes + 1] = {kind = "tracepoint", label = tp, tp = tp}
    end
  elseif #parts == 2 or (#parts == 3 and parts[1] == "p" and parts[2] ~= "") then
    local library, func = parts[#parts - 1], parts[#parts]
    local path = require("bpflua.attach").find_library(library)
    if not path then
      fail("can't find library " .. library)
    end
    for _, f in ipairs(patterns.user_functions(path, expression(func), "funccount.lua")) do
      probes[#probes + 1] = {kind = "uprobe", label = library .. ":" .. f.name, path = path, addr = f.addr}
    end
  elseif #parts == 1 or (#parts == 3 and parts[1] == "p" and parts[2] == "") then
    local ok, names = pcall(patterns.get_kprobe_functions, expression(parts[#parts]), "funccount.lua")
    for _, name in ipairs(ok and names or {}) do
      probes[#probes + 1] = {kind = "kprobe", label = name, event = name}
    end
  else
    fail("'" .. pattern .. "' is not a pattern: give lib:func, t:cat:event or func")
  end
  if #probes == before then
    fail("No functions matched by pattern " .. pattern)
  end
end

-- One counting function per probe, each adding to its own slot.
local text = {"BPF_ARRAY(counts, u64, " .. #probes .. ");"}
for i = 1, #probes do
  text[#text + 1] = string.format("int count_%d(void *ctx) { FILTER counts.atomic_increment(%d); return 0; }",
    i, i - 1)
end
local filters = {}
if opts.pid then
  filters[#filters + 1] = "if ((bpf_get_current_pid_tgid() >> 32) != " .. opts.pid .. ") return 0;"
end
if opts.cpu then
  filters[#filters + 1] = "if (bpf_get_smp_processor_id() != " .. opts.cpu .. ") return 0;"
end
text = table.concat(text, "\n"):gsub("FILTER", (table.concat(filters, " "):gsub("%%", "%%%%")))
if opts.debug then
  print(text)
end
local b = BPF{text = text}
for i, p in ipairs(probes) do
  local fn = "count_" .. i
  if p.kind == "uprobe" then
    b:attach_uprobe{name = p.path, addr = p.addr, fn_name = fn, pid = opts.pid}
  elseif p.kind == "tracepoint" then
    b:attach_tracepoint{tp = p.tp, fn_name = fn}
  else
    local ok, err = pcall(b.attach_kprobe, b, {event = p.event, fn_name = fn})
    if not ok then
      fail("kernel functions need kprobes, which this kernel refused: " .. tostring(err) ..
        "\n(user functions as lib:func and tracepoints as t:cat:event work without them)")
    end
  end
end

local function report()
  print()
  if opts.timestamp then
    print(string.format("%-8s", os.date("%H:%M:%S")))
  end
  local rows = {}
  for i, p in ipairs(probes) do
    local n = tonumber(b["counts"]:get(i - 1))
    if n > 0 then
      rows[#rows + 1] = {label = p.label, count = n}
    end
    b["counts"]:set(i - 1, 0)
  end
  table.sort(rows, function(x, y) return x.count < y.count end)
  print(string.format("%-36s %8s", "FUNC", "COUNT"))
  for _, row in ipairs(rows) do
    print(string.format("%-36s %8d", row.label, row.count))
  end
end

io.stdout:setvbuf("line")
print(string.format("Tracing %d functions for \"%s\"... Hit Ctrl-C to end.", #probes,
  table.concat(opts, " ")))
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration,
  report = report, detaching = true}
