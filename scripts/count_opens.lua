-- count_opens.lua: which processes open files, counted in the kernel, printed each second.
-- usage: bpflua scripts/count_opens.lua [-d seconds] [-n top]
local BPF = require("bpflua")
local ffi = require("ffi")

local function usage()
  print("usage: count_opens.lua [-d seconds] [-n top]\n" ..
        "  -d seconds  stop after this many seconds (default: run until Ctrl-C)\n" ..
        "  -n top      show this many processes each second (default: 10)")
end

local duration, top = math.huge, 10
local i = 1
while i <= #arg do
  if arg[i] == "-d" then duration = tonumber(arg[i + 1]); i = i + 2
  elseif arg[i] == "-n" then top = tonumber(arg[i + 1]); i = i + 2
  elseif arg[i] == "-h" then usage(); return
  else usage(); os.exit(1) end
end

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

print("Counting openat() by process... Ctrl-C to stop.")
local elapsed = 0
while elapsed < duration do
  BPF.sleep(1)
  elapsed = elapsed + 1
  local rows = {}
  for key, count in b["opens"]:items() do
    rows[#rows + 1] = {comm = ffi.string(key.comm), count = count}
  end
  table.sort(rows, function(x, y) return x.count > y.count end)
  print(string.format("\n%-16s %8s", "COMM", "OPENS"))
  for r = 1, math.min(top, #rows) do
    print(string.format("%-16s %8d", rows[r].comm, rows[r].count))
  end
  b["opens"]:clear()
end
