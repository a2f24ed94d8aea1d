-- Strings from events: an event's char comm[16] made a Lua string per event with ffi.string,
-- against C's strnlen + memcpy (event_strings_c.c), over the same 64 events holding 8 process
-- names, in the same run. (A cache of the strings seen, keyed by the array's two 64-bit
-- words, measured no faster than ffi.string with OpenResty's LuaJIT, so bpflua has none.)
--   bpflua scripts/bench/event_strings.lua [rounds]     (or luajit)
local ffi = require("ffi")
local band = require("bit").band

local rounds = tonumber(arg[1]) or 7
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local N = 4000000

local baseline = bench.c_library(here .. "/event_strings_c.c", [[
struct event_strings_event { uint32_t pid; char comm[16]; };
long bench_c_strings(const struct event_strings_event *events, int nevents, long n, double *elapsed_ns);
]])

local events = ffi.new("struct event_strings_event[64]")
local names = {"bash", "sshd", "systemd-journal", "luajit", "kworker/0:1", "python3", "nginx",
  "cron"}
for i = 0, 63 do
  ffi.copy(events[i].comm, names[i % #names + 1])
end
-- Each case adds up the lengths of the strings it made: no branch per event, whose side
-- exits would cost the JIT's traces more than the strings do.
local expected = 0
for i = 0, 63 do
  expected = expected + #names[i % #names + 1]
end
expected = expected * N / 64

local cases = {
  {"ffi.string(e.comm) per event", function()
    local total = 0
    for i = 0, N - 1 do
      total = total + #ffi.string(events[band(i, 63)].comm)
    end
    return total
  end},
}

local c_ns, lua_ns = {}, {}
for round = 1, rounds do
  local elapsed = ffi.new("double[1]")
  assert(baseline.bench_c_strings(events, 64, N, elapsed) == expected)
  c_ns[round] = elapsed[0] / N
  for i, case in ipairs(cases) do
    local t0 = bench.now_ns()
    assert(case[2]() == expected, case[1] .. " miscounted")
    lua_ns[i] = lua_ns[i] or {}
    lua_ns[i][round] = (bench.now_ns() - t0) / N
  end
end

local c_med = bench.median(c_ns)
print(string.format("strings from events, %d events, 8 names, median of %d rounds, %s", N, rounds,
  os.date("!%Y-%m-%d")))
print(string.format("%-44s %8.1f ns/event  %6.2fx", "C strnlen + memcpy", c_med, 1))
for i, case in ipairs(cases) do
  local med = bench.median(lua_ns[i])
  print(string.format("%-44s %8.1f ns/event  %6.2fx", case[1], med, med / c_med))
  bench.summary("strings from events", case[1], med, "C strnlen + memcpy", c_med)
end
