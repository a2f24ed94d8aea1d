-- Scrape benchmark: one Prometheus scrape of a 10,000-series table. A u32 -> u64 hash holds
-- 10,000 entries (written from Lua); each round renders it with bpflua.metrics as a counter
-- labelled by key, and reads the same map with a C loop over bpf_map_lookup_batch (the read
-- that ebpf_exporter's design rests on: batch lookups, then formatting), and prints the
-- median ms per scrape, the bytes of a scrape, and the ratio of the whole scrape to the
-- C read alone.
--   bpflua scripts/bench/scrape.lua [rounds]      (as root, after scripts/setup.sh)
local BPF = require("bpflua")
local ffi = require("ffi")
local metrics = require("bpflua.metrics")

local rounds = tonumber(arg[1]) or 21
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local N = 10000

local bench = dofile(here .. "/bench.lua")
local baseline = bench.c_library(here .. "/table_read_c.c", [[
long bench_lookup_batch(int map_fd, uint32_t batch_size, double *elapsed_ns, uint64_t *sum);
]])

local b = BPF{text = "BPF_HASH(calls, u32, u64, " .. N .. ");"}
local calls = b["calls"]
local expected_sum = 0
for pid = 1, N do
  calls:set(pid, pid * 7)
  expected_sum = expected_sum + pid * 7
end

local reg = metrics.new()
reg:counter{table = calls, name = "bench_calls_total", help = "calls by pid", labels = {"pid"}}

local function scrape()
  local t0 = bench.now_ns()
  local text = reg:render()
  return (bench.now_ns() - t0) / 1e6, #text
end

local elapsed, sum = ffi.new("double[1]"), ffi.new("uint64_t[1]")
local function read_c()
  local n = baseline.bench_lookup_batch(calls.fd, calls.batch_size, elapsed, sum)
  assert(n == N and tonumber(sum[0]) == expected_sum, "the C loop lost or garbled entries")
  return elapsed[0] / 1e6
end

scrape() -- untimed: compiles the Lua paths, touches every buffer
read_c()
local scrape_ms, read_ms, bytes = {}, {}, 0
for round = 1, rounds do
  scrape_ms[round], bytes = scrape()
  read_ms[round] = read_c()
end
local s, r = bench.median(scrape_ms), bench.median(read_ms)
print(string.format("scrape of a %d-series counter, median of %d rounds, %s", N, rounds,
  os.date("!%Y-%m-%d")))
print(string.format("%-52s %8.2f ms", "C, bpf_map_lookup_batch of the map (read only)", r))
print(string.format("%-52s %8.2f ms %8.1fx  %d bytes", "bpflua.metrics render (read + format)", s,
  s / r, bytes))
bench.summary("metrics scrape", "bpflua.metrics render", s, "C lookup_batch", r)
b:cleanup()
