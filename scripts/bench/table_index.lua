-- Single-key reads in a Lua loop: what t[k] and t:get(k) cost over the kernel's lookup
-- itself. Baseline: the same loop calling bpf_map_lookup_elem through the FFI into a buffer
-- of its own, in the same run. Cases: a u32 -> u64 array and a hash with a struct key, read
-- with a Lua table of fields ({pid = k}) and with a key cdata made once.
--   bpflua scripts/bench/table_index.lua [rounds]      (as root, after scripts/setup.sh)
local BPF = require("bpflua")
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local rounds = tonumber(arg[1]) or 5
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local N, READS = 1024, 1024 * 200

local b = BPF{text = [[
  BPF_ARRAY(slots, u64, N);
  struct key_t { u32 pid; u32 tid; };
  BPF_HASH(by_task, struct key_t, u64, N);
]], cflags = {"-DN=" .. N}}
local slots, by_task = b.slots, b.by_task
for i = 0, N - 1 do
  slots[i] = i
  by_task[{pid = i}] = i
end
local expected = (READS / N) * (N * (N - 1) / 2)

local function timed(read)
  local t0 = bench.now_ns()
  local sum = read()
  local t1 = bench.now_ns()
  assert(sum == expected, "a read lost or garbled values")
  return (t1 - t0) / READS
end

local key_box, value_box = ffi.new("uint32_t[1]"), ffi.new("uint64_t[1]")
local cases = {
  {"array: bpf_map_lookup_elem (FFI, baseline)", function()
    local sum, fd = 0, slots.fd
    for i = 0, READS - 1 do
      key_box[0] = i % N
      assert(lib.bpf_map_lookup_elem(fd, key_box, value_box) == 0)
      sum = sum + tonumber(value_box[0])
    end
    return sum
  end},
  {"array: t:get(k)", function()
    local sum = 0
    for i = 0, READS - 1 do
      sum = sum + slots:get(i % N)
    end
    return sum
  end},
  {"array: t[k]", function()
    local sum = 0
    for i = 0, READS - 1 do
      sum = sum + slots[i % N]
    end
    return sum
  end},
  {"struct key: t[{pid = k}]", function()
    local sum = 0
    for i = 0, READS - 1 do
      sum = sum + by_task[{pid = i % N}]
    end
    return sum
  end},
  {"struct key: t[key cdata]", function()
    local sum, key = 0, by_task.Key()
    for i = 0, READS - 1 do
      key.pid = i % N
      sum = sum + by_task[key]
    end
    return sum
  end},
}

local results = {}
for _ = 1, rounds do
  for i, case in ipairs(cases) do
    results[i] = results[i] or {}
    table.insert(results[i], timed(case[2]))
  end
end
local base = bench.median(results[1])
print(string.format("%-44s %10s %8s", "single-key reads (" .. READS .. " a round)", "ns/read", "x base"))
for i, case in ipairs(cases) do
  local m = bench.median(results[i])
  print(string.format("%-44s %10.1f %8.2f", case[1], m, m / base))
end
b:cleanup()
