-- Strings from events: an event's char comm[16] made a Lua string per event with ffi.string,
-- with ring:string_of (a cache of the values seen, lua/bpflua/event_view.lua), and compared as
-- cdata without making a string at all, against C's strnlen + memcpy (string_of_c.c), over
-- the same 64 events holding 8 process names, in the same run.
--   bpflua scripts/bench/string_of.lua [rounds]
local BPF = require("bpflua")
local ffi = require("ffi")
local band = require("bit").band

local rounds = tonumber(arg[1]) or 7
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local N = 4000000

local baseline = bench.c_library(here .. "/string_of_c.c", [[
struct string_of_event { uint32_t pid; char comm[16]; };
long bench_c_strings(const struct string_of_event *events, int nevents, long n, double *elapsed_ns);
]])

-- A ring whose event type is the benchmark's struct: string_of is a method of rings.
local b = BPF{text = [[
  struct event { u32 pid; char comm[16]; };
  BPF_RINGBUF_OUTPUT(events, 1);
  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    struct event e = {};
    if (args->who == 987653)
      events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
]]}
local ring = b["events"]

local events = ffi.new("struct string_of_event[64]")
local names = {"bash", "sshd", "systemd-journal", "luajit", "kworker/0:1", "python3", "nginx",
  "cron"}
for i = 0, 63 do
  ffi.copy(events[i].comm, names[i % #names + 1])
end
local bash = ffi.new("char[16]", "bash")
local uint64_ptr = ffi.typeof("const uint64_t *")
local bash0, bash1 = ffi.cast(uint64_ptr, bash)[0], ffi.cast(uint64_ptr, bash)[1]

local cases = {
  {"ffi.string(e.comm) per event", function()
    local count = 0
    for i = 0, N - 1 do
      if ffi.string(events[band(i, 63)].comm) == "bash" then count = count + 1 end
    end
    return count
  end},
  {"ring:string_of(e.comm)", function()
    local count = 0
    for i = 0, N - 1 do
      if ring:string_of(events[band(i, 63)].comm) == "bash" then count = count + 1 end
    end
    return count
  end},
  {"compared as cdata (two 64-bit words)", function()
    local count = 0
    for i = 0, N - 1 do
      local w = ffi.cast(uint64_ptr, events[band(i, 63)].comm)
      if w[0] == bash0 and w[1] == bash1 then count = count + 1 end
    end
    return count
  end},
}

local c_ns, lua_ns = {}, {}
for round = 1, rounds do
  local elapsed = ffi.new("double[1]")
  assert(baseline.bench_c_strings(events, 64, N, elapsed) == N / 8)
  c_ns[round] = elapsed[0] / N
  for i, case in ipairs(cases) do
    local t0 = bench.now_ns()
    assert(case[2]() == N / 8, case[1] .. " miscounted")
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
b:cleanup()
