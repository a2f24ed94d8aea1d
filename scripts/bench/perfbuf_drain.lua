-- Perf buffer drain benchmark: fill each consumer's perf buffer with N samples, then time
-- draining it through a Lua callback that reads one field of each sample (bpflua's
-- consumer), the same with libbpf's perf_buffer__consume and a C callback
-- (perfbuf_drain_c.c), and with bcc Python's perf_buffer_consume and a Python callback where
-- bcc runs (perfbuf_drain_bcc.py), alternating in the same run.
--   bpflua scripts/bench/perfbuf_drain.lua [rounds]      (as root, after scripts/setup.sh)
--
-- A BPF_PERF_OUTPUT map's slots hold the perf events of whoever opened it last, so each
-- consumer gets a map of its own; the one BPF program writes to the map the fill names.
local BPF = require("bpflua")
local ffi = require("ffi")

local rounds = tonumber(arg[1]) or 5
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local PER_CALL, CALLS = 256, 1000
local N = PER_CALL * CALLS
local PAGE_CNT = 4096 -- 16 MiB per CPU: room for all N samples (48 bytes each) on one CPU

local bench = dofile(here .. "/bench.lua")
-- The C baseline, built for this machine's libbpf.
local baseline = bench.c_library(here .. "/perfbuf_drain_c.c", [[
int bench_libbpf_perf_open(int map_fd, int page_cnt);
long bench_libbpf_perf_drain(double *elapsed_ns, uint64_t *sum, long *lost_samples);
int getpriority(int which, int who);
]])

local WHO = {lua = 987650, c = 987651, bcc = 987652}
local b = BPF{text = [[
  struct event { u64 seq; u64 a; u64 b; };
  BPF_PERF_OUTPUT(events);
  BPF_PERF_OUTPUT(events_c);
  BPF_PERF_OUTPUT(events_bcc);

  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who < 987650 || args->who > 987652) return 0;
    u64 base = args->which * 256;
    for (int i = 0; i < 256; i++) {
      struct event e = {base + i, 1, 2};
      if (args->who == 987650)
        events.perf_submit(args, &e, sizeof(e));
      else if (args->who == 987651)
        events_c.perf_submit(args, &e, sizeof(e));
      else
        events_bcc.perf_submit(args, &e, sizeof(e));
    }
    return 0;
  }
]]}

local function fill(who)
  for call = 0, CALLS - 1 do
    ffi.C.getpriority(call, who)
  end
end

local now_ns, median = bench.now_ns, bench.median

local events = b["events"]
local sum = 0
events:open_perf_buffer(function(_, data)
  sum = sum + tonumber(events:event(data).seq)
end, PAGE_CNT, function(count) error("the Lua drain lost " .. count .. " samples") end)
local expected_sum = N * (N - 1) / 2
assert(baseline.bench_libbpf_perf_open(b["events_c"].fd, PAGE_CNT) == 0,
  "libbpf cannot open the perf buffer")

local bcc_helper, bcc_unavailable = bench.bcc_helper(here .. "/perfbuf_drain_bcc.py",
  {bench.map_id(b["events_bcc"].fd), PAGE_CNT})

-- Drains bcc's buffer; returns ns/sample, or nil if the helper has died.
local function drain_bcc()
  local line = bcc_helper:ask("round")
  if line == nil then
    bcc_unavailable = "the Python helper died"
    return nil
  end
  local ns, bsum, n, lost = line:match("^(%d+) (%d+) (%d+) (%d+)$")
  assert(tonumber(n) == N and tonumber(bsum) == expected_sum and tonumber(lost) == 0,
    "the bcc drain lost or garbled samples: " .. line)
  return tonumber(ns) / N
end

local lua_ns, c_ns, bcc_ns = {}, {}, {}
for round = 1, rounds do
  fill(WHO.lua)
  sum = 0
  local t0 = now_ns()
  local n = b:perf_buffer_consume()
  local t1 = now_ns()
  assert(n == N and sum == expected_sum, "the Lua drain lost or garbled samples")
  lua_ns[round] = (t1 - t0) / N

  fill(WHO.c)
  local elapsed, csum, clost = ffi.new("double[1]"), ffi.new("uint64_t[1]"), ffi.new("long[1]")
  local cn = baseline.bench_libbpf_perf_drain(elapsed, csum, clost)
  assert(cn == N and tonumber(csum[0]) == expected_sum and clost[0] == 0,
    "the C drain lost or garbled samples")
  c_ns[round] = elapsed[0] / N

  if not bcc_unavailable then
    fill(WHO.bcc)
    bcc_ns[round] = drain_bcc()
  end
end
if bcc_helper then
  bcc_helper:close()
end

local lua_med, c_med = median(lua_ns), median(c_ns)
print(string.format("perf buffer drain, %d samples of 32 bytes, median of %d rounds, %s", N,
  rounds, os.date("!%Y-%m-%d")))
local function row(label, ns)
  print(string.format("%-50s %8.1f ns/event  %6.2fx", label, ns, ns / c_med))
end
row("libbpf perf_buffer__consume, C callback", c_med)
row("bpflua perf_buffer_consume, Lua callback", lua_med)
if bcc_unavailable then
  print("bcc: not available (" .. bcc_unavailable .. ")")
else
  row("bcc Python perf_buffer_consume, Python callback", median(bcc_ns))
end
bench.summary("perf buffer drain", "bpflua perf_buffer_consume", lua_med, "libbpf C", c_med)
if not bcc_unavailable then
  bench.summary("perf buffer drain", "bcc Python perf_buffer_consume", median(bcc_ns), "libbpf C", c_med)
end
