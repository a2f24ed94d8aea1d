-- Drain benchmark: fill a large ring with N events, then time draining it through a Lua
-- callback that reads one field of each event (bpflua's consumer), and the same with
-- libbpf's ring_buffer__consume and a C callback, and with bcc Python's
-- ring_buffer_consume and a Python callback where bcc runs (ringbuf_drain_bcc.py),
-- alternating in the same run, all on the same ring.
--   bpflua scripts/bench/ringbuf_drain.lua [rounds]      (as root, after scripts/setup.sh)
local BPF = require("bpflua")
local ffi = require("ffi")

local rounds = tonumber(arg[1]) or 5
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local PER_CALL, CALLS = 256, 4000
local N = PER_CALL * CALLS

local bench = dofile(here .. "/bench.lua")
-- The C baseline, built for this machine's libbpf.
local baseline = bench.c_library(here .. "/ringbuf_drain_c.c", [[
int bench_libbpf_open(int map_fd);
long bench_libbpf_drain(double *elapsed_ns, uint64_t *sum);
int getpriority(int which, int who);
]])

local b = BPF{text = [[
  struct event { u64 seq; u64 a; u64 b; };
  BPF_RINGBUF_OUTPUT(events, 16384);   /* 64 MiB: room for all N events of 32 bytes */

  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != 987654) return 0;
    u64 base = args->which * 256;
    for (int i = 0; i < 256; i++) {
      struct event e = {base + i, 1, 2};
      events.ringbuf_output(&e, sizeof(e), BPF_RB_NO_WAKEUP);
    }
    return 0;
  }
]]}

local function fill()
  for call = 0, CALLS - 1 do
    ffi.C.getpriority(call, 987654)
  end
end

local now_ns, median = bench.now_ns, bench.median

local events = b["events"]
local sum = 0
events:open_ring_buffer(function(_, data)
  sum = sum + tonumber(events:event(data).seq)
end)
local expected_sum = N * (N - 1) / 2
assert(baseline.bench_libbpf_open(events.fd) == 0, "libbpf cannot open the ring")

-- bcc runs in a Python process of its own, with its own consumer on the same ring (the
-- consumer position lives in the ring's shared page, so a drain by any one empties it for
-- all), and drains it when told.
local bcc_helper, bcc_unavailable = bench.bcc_helper(here .. "/ringbuf_drain_bcc.py",
  {bench.map_id(events.fd)})

-- Drains the ring with bcc; returns ns/event, or nil if the helper has died.
local function drain_bcc()
  local line = bcc_helper:ask("round")
  if line == nil then
    bcc_unavailable = "the Python helper died"
    return nil
  end
  local ns, bsum, n = line:match("^(%d+) (%d+) (%d+)$")
  assert(tonumber(n) == N and tonumber(bsum) == expected_sum,
    "the bcc drain lost or garbled events: " .. line)
  return tonumber(ns) / N
end

local lua_ns, c_ns, bcc_ns = {}, {}, {}
for round = 1, rounds do
  fill()
  sum = 0
  local t0 = now_ns()
  local n = b:ring_buffer_consume()
  local t1 = now_ns()
  assert(n == N and sum == expected_sum, "the Lua drain lost or garbled events")
  lua_ns[round] = (t1 - t0) / N

  fill()
  local elapsed, csum = ffi.new("double[1]"), ffi.new("uint64_t[1]")
  local cn = baseline.bench_libbpf_drain(elapsed, csum)
  assert(cn == N and tonumber(csum[0]) == expected_sum, "the C drain lost or garbled events")
  c_ns[round] = elapsed[0] / N

  if not bcc_unavailable then
    fill()
    bcc_ns[round] = drain_bcc()
    if bcc_unavailable then
      -- bcc died with the ring full; empty it so that the next round's fill fits.
      b:ring_buffer_consume()
    end
  end
end
if bcc_helper then
  bcc_helper:close()
end
assert(events:dropped() == 0)

local lua_med, c_med = median(lua_ns), median(c_ns)
print(string.format("ring buffer drain, %d events of 32 bytes, median of %d rounds, %s", N, rounds,
  os.date("!%Y-%m-%d")))
local function row(label, ns)
  print(string.format("%-48s %8.1f ns/event  %6.2fx", label, ns, ns / c_med))
end
row("libbpf ring_buffer__consume, C callback", c_med)
row("bpflua ring_buffer_consume, Lua callback", lua_med)
if bcc_unavailable then
  print("bcc: not available (" .. bcc_unavailable .. ")")
else
  row("bcc Python ring_buffer_consume, Python callback", median(bcc_ns))
end
bench.summary("ring buffer drain", "bpflua ring_buffer_consume", lua_med, "libbpf C", c_med)
if not bcc_unavailable then
  bench.summary("ring buffer drain", "bcc Python ring_buffer_consume", median(bcc_ns), "libbpf C",
    c_med)
end
