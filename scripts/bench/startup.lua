-- Start-up benchmark: wall time from process start to probes attached, and to exit, and peak
-- RSS, for bpflua on a program like scripts/ringbuf_output.lua, with bpftrace on the
-- equivalent one-liner measured in the same run as the baseline.
--   luajit scripts/bench/startup.lua [runs]     (as root, after scripts/setup.sh)
local ffi = require("ffi")

ffi.cdef[[
typedef int pid_t;
struct sb_timeval { long tv_sec; long tv_usec; };
struct sb_rusage { struct sb_timeval utime, stime; long maxrss; long rest[13]; };
int posix_spawnp(pid_t *pid, const char *file, const void *file_actions, const void *attrp,
                 char *const argv[], char *const envp[]);
pid_t wait4(pid_t pid, int *status, int options, struct sb_rusage *rusage);
extern char **environ;
]]

local runs = tonumber(arg[1]) or 10
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local probe = here .. "/startup_probe.lua"

local bench = dofile(here .. "/bench.lua")
local now_ms, median = bench.now_ms, bench.median

-- Runs a shell command (which execs the program, so the pid is the program's); returns the
-- start time, exit time, peak RSS in MiB and the command's output.
local function spawn(command)
  local out = os.tmpname()
  local argv = ffi.new("char *[4]")
  local strings = {"/bin/sh", "-c", "exec " .. command .. " > " .. out .. " 2>&1"}
  for i, s in ipairs(strings) do
    argv[i - 1] = ffi.cast("char *", s)
  end
  local pid = ffi.new("pid_t[1]")
  local start = now_ms()
  assert(ffi.C.posix_spawnp(pid, "/bin/sh", nil, nil, argv, ffi.C.environ) == 0)
  local status, usage = ffi.new("int[1]"), ffi.new("struct sb_rusage")
  assert(ffi.C.wait4(pid[0], status, 0, usage) == pid[0])
  local finish = now_ms()
  local f = io.open(out)
  local text = f:read("*a")
  f:close()
  os.remove(out)
  if status[0] ~= 0 then
    error("`" .. command .. "` failed:\n" .. text)
  end
  return start, finish, tonumber(usage.maxrss) / 1024, text
end

local function measure(name, n, command_for_run, expect_hit, after_run)
  local attached, exited, rss = {}, {}, {}
  for i = 1, n do
    local start, finish, maxrss, text = spawn(command_for_run(i))
    if after_run then
      after_run(i)
    end
    local sec, nsec, hit = text:match("attached (%d+) (%d+) (%a+)")
    if sec then
      attached[#attached + 1] = tonumber(sec) * 1e3 + tonumber(nsec) / 1e6 - start
      if expect_hit ~= nil then
        assert((hit == "true") == expect_hit, name .. ": the object cache did not behave as intended")
      end
    end
    exited[#exited + 1] = finish - start
    rss[#rss + 1] = maxrss
  end
  return {name = name, attached = #attached > 0 and median(attached), exited = median(exited),
          rss = median(rss), n = n}
end

local salt = tostring(os.time())
local results = {}

local cold_dir = os.tmpname()
os.remove(cold_dir)
-- Cold: an empty cache, as on the first run after a kernel change: the program compiles
-- against the kernel types it names, and the prelude is built in the background (waited for
-- between runs).
results[#results + 1] = measure("bpflua, cold (empty cache)", math.max(1, math.floor(runs / 3)),
  function(i)
    bench.remove_cold_cache(cold_dir)
    os.execute("mkdir -m 700 " .. cold_dir)
    return "env BPFLUA_CACHE_DIR=" .. cold_dir .. " bpflua " .. probe .. " -DSALT=cold" .. i
  end, false, function()
    bench.remove_cold_cache(cold_dir)
  end)
-- Warm PCH, no object cache: a new cflag each run makes the object cache miss.
spawn("bpflua " .. probe .. " -DSALT=warmup")
results[#results + 1] = measure("bpflua, warm PCH, object cache miss", runs, function(i)
  return "bpflua " .. probe .. " -DSALT=miss" .. salt .. "_" .. i
end, false)
-- Object cache hit.
spawn("bpflua " .. probe .. " -DSALT=hit" .. salt)
results[#results + 1] = measure("bpflua, object cache hit", runs, function()
  return "bpflua " .. probe .. " -DSALT=hit" .. salt
end, true)
-- The baseline: bpftrace attaching the same tracepoint with the same output, exiting at once.
local bpftrace = io.popen("command -v bpftrace"):read("*l")
if bpftrace then
  results[#results + 1] = measure("bpftrace one-liner", runs, function()
    return "bpftrace -e 'tracepoint:syscalls:sys_enter_openat { printf(\"%s %d %d %d\\n\", " ..
      "str(args->filename), args->dfd, args->flags, args->mode); } BEGIN { exit(); }'"
  end)
end

local baseline = bpftrace and results[#results].exited
print(string.format("start-up, median of %d runs (cold: %d), %s", runs,
  math.max(1, math.floor(runs / 3)), os.date("!%Y-%m-%d")))
print(string.format("%-38s %12s %12s %10s %14s", "case", "to attached", "to exit", "peak RSS",
  "exit vs bpftrace"))
for _, r in ipairs(results) do
  print(string.format("%-38s %9s ms %9.1f ms %6.1f MiB %14s", r.name,
    r.attached and string.format("%.1f", r.attached) or "-", r.exited, r.rss,
    baseline and string.format("%.2fx", r.exited / baseline) or "-"))
  if baseline and r ~= results[#results] then
    bench.summary("start-up to exit", r.name, r.exited, "bpftrace", baseline)
  end
end
