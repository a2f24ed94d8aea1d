-- funccount.lua: count calls to user-space functions with uprobes, as bcc's funccount does
-- for "lib:function" patterns ("c:malloc" is malloc in libc).
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "funccount.lua [-p PID] [-d SECONDS] [-i INTERVAL] LIB:FUNCTION...",
  description = "Count calls to the given functions, e.g. funccount.lua c:malloc c:free",
  {"-p", "--pid", "pid", "number", "count calls by this process only"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
  {"-i", "--interval", "interval", "number", "print every INTERVAL seconds"},
})
if #opts == 0 then
  io.stderr:write("funccount.lua: name at least one LIB:FUNCTION, e.g. c:malloc\n")
  os.exit(2)
end

-- One counting function per probe, each adding to its own slot.
local functions = {}
for i = 1, #opts do
  functions[#functions + 1] = string.format(
    "int count_%d(struct pt_regs *ctx) { counts.atomic_increment(%d); return 0; }", i, i - 1)
end
local b = BPF{text = "BPF_ARRAY(counts, u64, " .. #opts .. ");\n" .. table.concat(functions, "\n")}
for i, pattern in ipairs(opts) do
  local library, func = pattern:match("^([^:]+):(.+)$")
  if not library then
    io.stderr:write("funccount.lua: '" .. pattern .. "' is not LIB:FUNCTION\n")
    os.exit(2)
  end
  b:attach_uprobe{name = library, sym = func, fn_name = "count_" .. i, pid = opts.pid}
end

local function report()
  print(string.format("%-36s %8s", "FUNC", "COUNT"))
  for i, pattern in ipairs(opts) do
    print(string.format("%-36s %8d", pattern, b["counts"]:get(i - 1)))
    b["counts"]:set(i - 1, 0)
  end
end

io.stdout:setvbuf("line")
print("Tracing " .. #opts .. " functions... Ctrl-C to end.")
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration, report = report}
