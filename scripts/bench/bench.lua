-- What the benchmarks share: a monotonic clock, the median, building a C baseline for this
-- machine's libbpf, a map's kernel id, and running a bcc helper in Python. Benchmarks load it from their own
-- directory:
--   local here = arg[0]:match("^(.*)/[^/]*$") or "."
--   local bench = dofile(here .. "/bench.lua")
local ffi = require("ffi")

ffi.cdef[[
struct bench_clock_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct bench_clock_timespec *ts);
typedef void (*bench_sighandler)(int);
bench_sighandler signal(int sig, bench_sighandler handler);
int bpf_obj_get_info_by_fd(int bpf_fd, void *info, uint32_t *info_len);
]]

local CLOCK_MONOTONIC = 1

local M = {}

local ts = ffi.new("struct bench_clock_timespec")

-- A map's kernel id, so that another process (bcc's Python) can open the same map. libbpf
-- resolves through libbpflua, which links it. struct bpf_map_info starts with its type and
-- its id; the kernel fills as much of the zeroed buffer as it knows.
function M.map_id(map_fd)
  local info, len = ffi.new("uint32_t[64]"), ffi.new("uint32_t[1]", 256)
  assert(require("bpflua.cdefs").bpf_obj_get_info_by_fd(map_fd, info, len) == 0,
    "cannot read the map's info")
  return tonumber(info[1])
end

function M.now_ns()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

function M.now_ms()
  return M.now_ns() / 1e6
end

-- The median of a list of numbers (the list is left as it was).
function M.median(xs)
  local s = {}
  for i, x in ipairs(xs) do
    s[i] = x
  end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) / 2] or (s[n / 2] + s[n / 2 + 1]) / 2
end

-- Compiles a C baseline (path) into a shared library, declares cdecls and returns the loaded
-- library.
function M.c_library(path, cdecls)
  local so = os.tmpname() .. ".so"
  assert(os.execute("cc -O2 -shared -fPIC -o " .. so .. " " .. path .. " -lbpf") == 0,
    "cannot build the C baseline " .. path .. " (needs cc and libbpf-dev)")
  ffi.cdef(cdecls)
  local lib = ffi.load(so)
  os.remove(so)
  return lib
end

-- Debian's python3, where python3-bpfcc installs bcc (not whatever python3 is first on PATH).
local PYTHON = "/usr/bin/python3"
local SIGPIPE = 13

-- Starts a bcc helper: the Python script at path, run with args (a list). It answers on its
-- file descriptor 3, a FIFO: once "ready" or "unavailable REASON" (see bcc_bench.py), then one
-- line per command written to its stdin. Returns the helper, or nil and why bcc cannot run.
--   helper:ask(command)  sends a command line, returns the answer line (nil once it has died)
--   helper:close()       tells it to quit, if alive, and waits for it
function M.bcc_helper(path, args)
  local python = io.open(PYTHON)
  if not python then
    return nil, "no " .. PYTHON
  end
  python:close()
  -- A helper that dies between rounds must show as end of file on its answers, not kill us
  -- with SIGPIPE when we write the next command.
  ffi.C.signal(SIGPIPE, ffi.cast("bench_sighandler", 1)) -- SIG_IGN
  local fifo = os.tmpname()
  os.remove(fifo)
  assert(os.execute("mkfifo -m 600 " .. fifo) == 0)
  -- The shell opens the FIFO before Python starts, so that we read end of file, not wait
  -- forever, if Python fails before its first line. -B: importing bcc_bench must not leave
  -- a __pycache__ in the source tree (we run as root).
  local commands = io.popen(string.format("%s -B %s %s 3>%s", PYTHON, path,
    table.concat(args, " "), fifo), "w")
  local results = io.open(fifo, "r") -- waits for the shell to open its end
  os.remove(fifo)
  commands:setvbuf("line")
  local line = results:read("*l")
  if line ~= "ready" then
    commands:close()
    results:close()
    return nil, line and line:match("^unavailable (.*)") or "the Python helper died"
  end
  local helper, alive = {}, true
  function helper:ask(command)
    if not alive then
      return nil
    end
    commands:write(command, "\n")
    local answer = results:read("*l")
    -- End of file: the helper exited; writing to it again would raise SIGPIPE.
    alive = answer ~= nil
    return answer
  end
  function helper:close()
    if alive then
      commands:write("quit\n")
    end
    commands:close()
    results:close()
  end
  return helper
end

-- Records a figure for scripts/bench/all.lua, which runs every benchmark and prints one
-- table of ratios: when BPFLUA_BENCH_SUMMARY names a file, appends a line to it (tab
-- separated: benchmark, case, value, baseline, baseline's value; lower is better).
function M.summary(benchmark, case, value, baseline, baseline_value)
  local path = os.getenv("BPFLUA_BENCH_SUMMARY")
  if not path or path == "" then
    return
  end
  local f = assert(io.open(path, "a"))
  f:write(string.format("%s\t%s\t%.6g\t%s\t%.6g\n", benchmark, case, value, baseline,
    baseline_value))
  f:close()
end

-- Removes a cache directory that a cold run used, once the prelude that the run left
-- building in the background (its builder holds the lock in the cache's kernel directory) is
-- done: so that it neither competes with the next run nor writes into a removed directory.
function M.remove_cold_cache(dir)
  os.execute("for l in " .. dir .. "/kernel-*/prelude.lock; do [ -e \"$l\" ] && flock \"$l\" true; done; " ..
    "rm -rf " .. dir)
end

return M
