-- Table read benchmark: a BPF program fills a hash with 100,000 entries (u32 -> u64), then
-- each round reads all of them, summing the values, in turn with
--   bpflua's items() into Lua (batch reads),
--   a C loop over bpf_map_get_next_key + bpf_map_lookup_elem   (table_read_c.c),
--   a C loop over bpf_map_lookup_batch                          (table_read_c.c),
--   bcc Python's items() and items_lookup_batch(), where bcc runs (table_read_bcc.py),
-- all on the same map, and prints the median ns per entry.
--   bpflua scripts/bench/table_read.lua [rounds]      (as root, after scripts/setup.sh)
local BPF = require("bpflua")
local ffi = require("ffi")

local rounds = tonumber(arg[1]) or 5
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local PER_CALL, CALLS = 250, 400
local N = PER_CALL * CALLS

local bench = dofile(here .. "/bench.lua")
-- The C baselines, built for this machine's libbpf.
local baseline = bench.c_library(here .. "/table_read_c.c", [[
long bench_get_next_key(int map_fd, double *elapsed_ns, uint64_t *sum);
long bench_lookup_batch(int map_fd, uint32_t batch_size, double *elapsed_ns, uint64_t *sum);
int getpriority(int which, int who);
]])

-- getpriority(which = c, who = 424243) writes the entries c * PER_CALL .. (c + 1) * PER_CALL - 1.
local b = BPF{text = [[
  BPF_HASH(table, u32, u64, N);
  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != 424243) return 0;
    u32 base = args->which * PER_CALL;
    for (u32 i = 0; i < PER_CALL; i++) {
      u32 k = base + i;
      u64 v = (u64)k * 3 + 1;
      table.update(&k, &v);
    }
    return 0;
  }
]], cflags = {"-DN=" .. N, "-DPER_CALL=" .. PER_CALL}}
for call = 0, CALLS - 1 do
  ffi.C.getpriority(call, 424243)
end
local tbl = b["table"]
local expected_sum = 3 * N * (N - 1) / 2 + N
assert(tbl:len() == N, "the BPF program did not fill the table")

local now_ns, median = bench.now_ns, bench.median

local function read_lua()
  local sum, n = 0, 0
  local t0 = now_ns()
  for _, v in tbl:items() do
    sum = sum + v
    n = n + 1
  end
  local t1 = now_ns()
  assert(n == N and sum == expected_sum, "bpflua items() lost or garbled entries")
  return (t1 - t0) / N
end

local elapsed, csum = ffi.new("double[1]"), ffi.new("uint64_t[1]")
local function read_c(which)
  local n
  if which == "next" then
    n = baseline.bench_get_next_key(tbl.fd, elapsed, csum)
  else
    n = baseline.bench_lookup_batch(tbl.fd, tbl.batch_size, elapsed, csum)
  end
  assert(n == N and tonumber(csum[0]) == expected_sum, "a C loop lost or garbled entries")
  return elapsed[0] / N
end

-- bcc runs in a Python process of its own; it reads the same map (by id) when told.
local bcc = {}

-- Returns ns/entry for bcc's items() and items_lookup_batch(), or nil and why bcc cannot run.
local function read_bcc()
  if bcc.unavailable then
    return nil, bcc.unavailable
  end
  local line = bcc.helper:ask("round")
  if line == nil then
    bcc.unavailable = "the Python helper died"
    return nil, bcc.unavailable
  end
  local items_ns, items_sum, batch_ns, batch_sum, n = line:match("^(%d+) (%d+) (%d+) (%d+) (%d+)$")
  assert(tonumber(n) == N and tonumber(items_sum) == expected_sum and
    tonumber(batch_sum) == expected_sum, "bcc lost or garbled entries: " .. line)
  return tonumber(items_ns) / N, tonumber(batch_ns) / N
end

bcc.helper, bcc.unavailable = bench.bcc_helper(here .. "/table_read_bcc.py",
  {bench.map_id(tbl.fd), tbl.max_entries})
-- One untimed pass each first: compiles the Lua loop and touches every buffer.
read_lua()
read_c("next")
read_c("batch")
local times = {lua = {}, next = {}, batch = {}, bcc_items = {}, bcc_batch = {}}
local readers = {
  function(round) times.lua[round] = read_lua() end,
  function(round) times.next[round] = read_c("next") end,
  function(round) times.batch[round] = read_c("batch") end,
  function(round) times.bcc_items[round], times.bcc_batch[round] = read_bcc() end,
}
-- Each round starts with the next reader: a read right after the get_next_key walk runs
-- measurably slower (caches), so no reader should always come after it.
for round = 1, rounds do
  for i = 0, #readers - 1 do
    readers[(round + i - 1) % #readers + 1](round)
  end
end
if bcc.helper then
  bcc.helper:close()
end

-- Ratios to both C loops: the one-entry walk (what bcc's items() does) and the batch read.
local by_key, by_batch = median(times.next), median(times.batch)
local function row(label, ns)
  print(string.format("%-48s %8.1f ns/entry %11.2fx %11.2fx", label, ns, ns / by_key, ns / by_batch))
end
print(string.format("table read, %d entries (u32 -> u64 hash), batches of %d, median of %d rounds, %s",
  N, tbl.batch_size, rounds, os.date("!%Y-%m-%d")))
print(string.format("%-66s %12s %12s", "", "vs C 1-by-1", "vs C batch"))
row("C, bpf_map_get_next_key + bpf_map_lookup_elem", by_key)
row("C, bpf_map_lookup_batch", by_batch)
row("bpflua items(), Lua loop", median(times.lua))
if bcc.unavailable then
  print("bcc: not available (" .. bcc.unavailable .. ")")
else
  row("bcc Python items()", median(times.bcc_items))
  row("bcc Python items_lookup_batch()", median(times.bcc_batch))
end
bench.summary("table read", "bpflua items()", median(times.lua), "C lookup_batch", by_batch)
if not bcc.unavailable then
  bench.summary("table read", "bcc Python items_lookup_batch()", median(times.bcc_batch),
    "C lookup_batch", by_batch)
end
b:cleanup()
