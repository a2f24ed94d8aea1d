-- The cached compile (bpflua_compile finding its object) with the cache's bound keeping each
-- entry's time of last use, against the same hit with no bound (BPFLUA_CACHE_MAX=0: nothing
-- kept), in the same run: a hit on an entry used lately costs one stat more, one on an entry
-- older than ten minutes a utimensat as well.
--   luajit scripts/bench/cache_hit.lua [rounds]     (as root, after scripts/setup.sh)
local ffi = require("ffi")

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")

local SOURCE = [[
BPF_RINGBUF_OUTPUT(events, 8);
struct event { u32 pid; char comm[16]; };
TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
  struct event e = {.pid = bpf_get_current_pid_tgid() >> 32};
  bpf_get_current_comm(e.comm, sizeof(e.comm));
  events.ringbuf_output(&e, sizeof(e), 0);
  return 0;
}
]]
local HITS = 200

-- In a child process (the bound is read once per process): ns per hit, median of HITS, each
-- hit timed alone so that backdating the entry between hits is not timed.
if arg[1] == "--child" then
  local lib = require("bpflua.cdefs")
  ffi.cdef[[
  struct ch_timespec { long tv_sec; long tv_nsec; };
  int utimensat(int dirfd, const char *path, const struct ch_timespec times[2], int flags);
  ]]
  local backdate = arg[2] == "old"
  local opts = ffi.new("struct bpflua_compile_opts", {source = SOURCE, source_len = #SOURCE,
    source_name = "<bench>", cflags = nil, ncflags = 0, debug = 0})
  local err = ffi.new("char *[1]")
  local function compile()
    local c = lib.bpflua_compile(opts, err)
    assert(c ~= nil, err[0] ~= nil and ffi.string(err[0]) or "compile failed")
    local hit = c.cache_hit
    lib.bpflua_compiled_free(c)
    return hit
  end
  compile()
  local dir = os.getenv("BPFLUA_CACHE_DIR")
  local entries = {}
  for name in io.popen("ls " .. dir):lines() do
    if name:match("^object%-.*%.entry$") then
      entries[#entries + 1] = dir .. "/" .. name
    end
  end
  local hour_ago = ffi.new("struct ch_timespec[2]")
  for i = 0, 1 do
    hour_ago[i].tv_sec, hour_ago[i].tv_nsec = os.time() - 3600, 0
  end
  local times = {}
  for i = 1, HITS do
    if backdate then
      for _, path in ipairs(entries) do
        ffi.C.utimensat(-100, path, hour_ago, 0)
      end
    end
    local start = bench.now_ns()
    assert(compile() == 1, "not a cache hit")
    times[i] = bench.now_ns() - start
  end
  print(string.format("%.0f", bench.median(times)))
  os.exit(0)
end

local rounds = tonumber(arg[1]) or 9
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir .. " && BPFLUA_CACHE_DIR=" .. dir ..
  " bpflua --prepare >/dev/null") == 0, "bpflua --prepare failed")

local cases = {
  {"no bound (BPFLUA_CACHE_MAX=0)", "BPFLUA_CACHE_MAX=0", "recent"},
  {"bound, entry used lately (stat)", "", "recent"},
  {"bound, entry 1 h old (stat, utimensat)", "", "old"},
}
local results = {}
for _, c in ipairs(cases) do
  results[c[1]] = {}
end
-- The cases alternate within each round, so that a load that drifts moves them alike.
for _ = 1, rounds do
  for _, c in ipairs(cases) do
    local p = io.popen(string.format("BPFLUA_CACHE_DIR=%s %s luajit %s --child %s", dir, c[2],
      arg[0], c[3]))
    local ns = tonumber(p:read("*a"))
    p:close()
    assert(ns, c[1] .. ": the child failed")
    table.insert(results[c[1]], ns)
  end
end
os.execute("rm -rf " .. dir)

local load = io.open("/proc/loadavg"):read("*l"):match("^(%S+)")
print(string.format("cache hit (bpflua_compile), median of %d rounds of %d hits, %s, load %s",
  rounds, HITS, os.date("!%Y-%m-%d"), load))
print(string.format("%-42s %12s %10s", "case", "per hit", "vs none"))
local baseline = bench.median(results[cases[1][1]])
for _, c in ipairs(cases) do
  local m = bench.median(results[c[1]])
  print(string.format("%-42s %9.1f us %9.3fx", c[1], m / 1e3, m / baseline))
  if c ~= cases[1] then
    bench.summary("cache hit", c[1], m, "no bound", baseline)
  end
end
