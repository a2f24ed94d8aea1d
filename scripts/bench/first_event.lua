-- Time to first event: while another process makes the traced syscall continuously
-- (getpriority for one `who`, from a stock luajit), start a tool on the same probe and time
-- from its exec until it prints its first event: bpflua (object cache hit, a miss with the
-- PCH warm, and cold: an empty cache; and an empty cache with `bpflua --prepare` run first,
-- as a first run built the prelude before it compiled against a trimmed vmlinux.h), bcc's
-- Python (python3-bpfcc) and bpftrace, each the same probe, in the same run; then the cached
-- case and bpftrace in turn, a run of each, for a ratio that a drifting load does not move.
--   luajit scripts/bench/first_event.lua [runs]     (as root, after scripts/setup.sh)
local ffi = require("ffi")

local runs = tonumber(arg[1]) or 5
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local now_ms, median = bench.now_ms, bench.median

local WHO = 424242

ffi.cdef[[
int kill(int pid, int sig);
]]

-- The producer: getpriority(0, WHO) as fast as it goes, until killed.
local pid_file = os.tmpname()
assert(os.execute(string.format("sh -c 'echo $$ > %s; exec luajit -e \"" ..
  "local ffi = require([[ffi]]) ffi.cdef[[int getpriority(int, int);]] " ..
  "while true do ffi.C.getpriority(0, %d) end\"' >/dev/null 2>&1 &", pid_file, WHO)) == 0)
local producer_pid
for _ = 1, 100 do
  local f = io.open(pid_file)
  producer_pid = f and tonumber(f:read("*a"))
  if f then f:close() end
  if producer_pid then break end
  os.execute("sleep 0.01")
end
os.remove(pid_file)
assert(producer_pid, "the producer did not start")

-- Runs command (which must exec the tool, so the time starts at the tool's exec within a
-- shell's start) and returns the milliseconds until a line "event" comes out, or nil and the
-- output when it ends without one.
local function time_to_event(command)
  local start = now_ms()
  local p = io.popen("exec " .. command .. " 2>&1")
  local output = {}
  for line in p:lines() do
    if line == "event" then
      local elapsed = now_ms() - start
      p:close()
      return elapsed
    end
    output[#output + 1] = line
  end
  p:close()
  return nil, table.concat(output, "\n")
end

local function measure(name, n, command_for_run, after_run)
  local times = {}
  for i = 1, n do
    local ms, output = time_to_event(command_for_run(i))
    if after_run then
      after_run()
    end
    if not ms then
      return {name = name, unavailable = output:match("unavailable (.*)") or output}
    end
    times[i] = ms
  end
  return {name = name, ms = median(times), n = n}
end

local probe = here .. "/first_event_probe.lua"
local bpftrace_command = "bpftrace -e 'tracepoint:syscalls:sys_enter_getpriority /args->who == " ..
  WHO .. "/ { printf(\"event\\n\"); exit(); }'"
local paired = {}
local salt = tostring(os.time())
local results = {}
local ok, err = pcall(function()
  local cold_dir = os.tmpname()
  os.remove(cold_dir)
  local cold_runs = math.max(1, math.floor(runs / 2))
  results[#results + 1] = measure("bpflua, cold (empty cache)", cold_runs, function(i)
    bench.remove_cold_cache(cold_dir)
    os.execute("mkdir -m 700 " .. cold_dir)
    return string.format("env BPFLUA_CACHE_DIR=%s bpflua %s %d -DSALT=cold%s_%d", cold_dir,
      probe, WHO, salt, i)
  end, function() bench.remove_cold_cache(cold_dir) end)
  -- The same, with the prelude built before the program compiles, as every first run did
  -- before compiling against a trimmed vmlinux.h: what that change removes.
  results[#results + 1] = measure("bpflua, empty cache, --prepare first", cold_runs, function(i)
    bench.remove_cold_cache(cold_dir)
    os.execute("mkdir -m 700 " .. cold_dir)
    return string.format("env BPFLUA_CACHE_DIR=%s sh -c 'bpflua --prepare >/dev/null && " ..
      "exec bpflua %s %d -DSALT=prepared%s_%d'", cold_dir, probe, WHO, salt, i)
  end, function() bench.remove_cold_cache(cold_dir) end)
  time_to_event(string.format("bpflua %s %d -DSALT=warmup", probe, WHO))
  results[#results + 1] = measure("bpflua, warm PCH, object cache miss", runs, function(i)
    return string.format("bpflua %s %d -DSALT=miss%s_%d", probe, WHO, salt, i)
  end)
  results[#results + 1] = measure("bpflua, object cache hit", runs, function()
    return string.format("bpflua %s %d -DSALT=hit%s", probe, WHO, salt)
  end)
  results[#results + 1] = measure("bcc Python (python3-bpfcc)", runs, function()
    return string.format("/usr/bin/python3 -B %s/first_event_bcc.py %d", here, WHO)
  end)
  results[#results + 1] = measure("bpftrace", runs, function()
    return bpftrace_command
  end)
  -- The cached case and bpftrace once more, one run of each in turn: a load that drifts
  -- between the cases above moves their ratio, not this one (the median of each pair's).
  -- Each run starts a quarter of a second after the one before, when the kernel is done
  -- freeing what that one loaded (after bpftrace, a run that starts at once waits ~5 ms
  -- more for it).
  for _ = 1, runs do
    os.execute("sleep 0.25")
    local hit = time_to_event(string.format("bpflua %s %d -DSALT=hit%s", probe, WHO, salt))
    os.execute("sleep 0.25")
    local baseline_ms = time_to_event(bpftrace_command)
    if hit and baseline_ms then
      paired[#paired + 1] = {hit = hit, bpftrace = baseline_ms, ratio = hit / baseline_ms}
    end
  end
end)
ffi.C.kill(producer_pid, 9)
assert(ok, err)

local baseline = results[#results].ms
print(string.format("time to first event, median of %d runs (cold: %d), %s", runs,
  math.max(1, math.floor(runs / 2)), os.date("!%Y-%m-%d")))
print(string.format("%-38s %12s %14s", "case", "exec to event", "vs bpftrace"))
for _, r in ipairs(results) do
  if r.unavailable then
    print(string.format("%-38s not available (%s)", r.name, r.unavailable))
  else
    print(string.format("%-38s %9.1f ms %13s", r.name, r.ms,
      baseline and string.format("%.3fx", r.ms / baseline) or "-"))
    if baseline and r ~= results[#results] then
      bench.summary("time to first event", r.name, r.ms, "bpftrace", baseline)
    end
  end
end
if #paired > 0 then
  local function column(key)
    local values = {}
    for i, pair in ipairs(paired) do
      values[i] = pair[key]
    end
    return median(values)
  end
  print(string.format("%-38s %9.1f ms %13s", "bpflua, object cache hit, in turn", column("hit"),
    string.format("%.3fx", column("ratio"))))
  print(string.format("%-38s %9.1f ms %13s", "bpftrace, in turn", column("bpftrace"), "1.000x"))
  -- The median of the pairs' ratios, as a value against a baseline of 1.
  bench.summary("time to first event", "bpflua, object cache hit, in turn", column("ratio"),
    "bpftrace, in turn", 1)
end
