-- count_opens.lua: which processes open files, counted in the kernel, printed each second.
local BPF = require("bpflua")
local ffi = require("ffi")

local opts = require("bpflua.args").parse(arg, {
  usage = "count_opens.lua [-d SECONDS] [-n TOP]",
  description = "Count openat() calls per process name, printed each second.",
  {"-d", "--duration", "duration", "number", "stop after this many seconds (default: until Ctrl-C)",
   metavar = "SECONDS"},
  {"-n", "--top", "top", "number", "show this many processes each second (default 10)"},
})

local b = BPF{text = [[
  struct key_t { char comm[TASK_COMM_LEN]; };
  BPF_HASH(opens, struct key_t, u64, 1024);

  TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    struct key_t key = {};
    bpf_get_current_comm(&key.comm, sizeof(key.comm));
    opens.increment(key);
    return 0;
  }
]]}

local function report()
  local rows = {}
  for key, count in b["opens"]:items() do
    rows[#rows + 1] = {comm = ffi.string(key.comm), count = count}
  end
  table.sort(rows, function(x, y) return x.count > y.count end)
  print(string.format("\n%-16s %8s", "COMM", "OPENS"))
  for r = 1, math.min(opts.top or 10, #rows) do
    print(string.format("%-16s %8d", rows[r].comm, rows[r].count))
  end
  b["opens"]:clear()
end

io.stdout:setvbuf("line")
print("Counting openat() by process... Ctrl-C to stop.")
require("bpflua.intervals").run{interval = 1, duration = opts.duration, report = report}
