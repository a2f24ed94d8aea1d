-- syscount.lua: count system calls by name, system-wide or for one process, as bcc's
-- syscount does, printing the top N each interval.
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "syscount.lua [-p PID] [-T TOP] [-i INTERVAL] [-d SECONDS]",
  description = "Count system calls and print the most frequent.",
  {"-p", "--pid", "pid", "number", "count this process only"},
  {"-T", "--top", "top", "number", "print this many syscalls (default 10)"},
  {"-i", "--interval", "interval", "number", "print every INTERVAL seconds (default: at the end)"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
})

local b = BPF{text = [[
  BPF_HASH(counts, u32, u64, 1024);
  TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    if (PID && (bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    counts.atomic_increment((u32)args->id);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0)}}

local syscalls = require("bpflua.syscalls")
local counts = b["counts"]

local function report()
  local rows = {}
  for nr, n in counts:items() do
    rows[#rows + 1] = {syscalls.name(nr), n}
  end
  table.sort(rows, function(x, y) return x[2] > y[2] end)
  print(string.format("%-22s %8s", "SYSCALL", "COUNT"))
  for i = 1, math.min(opts.top or 10, #rows) do
    print(string.format("%-22s %8d", rows[i][1], rows[i][2]))
  end
  print()
  counts:clear()
end

io.stdout:setvbuf("line")
print("Tracing syscalls, printing top " .. (opts.top or 10) .. "... Ctrl-C to quit.")
require("bpflua.intervals").run{interval = opts.interval, duration = opts.duration, report = report}
