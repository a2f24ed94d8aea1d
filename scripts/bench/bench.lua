-- What the benchmarks share: a monotonic clock, the median, and building a C baseline for
-- this machine's libbpf. Benchmarks load it from their own directory:
--   local here = arg[0]:match("^(.*)/[^/]*$") or "."
--   local bench = dofile(here .. "/bench.lua")
local ffi = require("ffi")

ffi.cdef[[
struct bench_clock_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct bench_clock_timespec *ts);
]]

local CLOCK_MONOTONIC = 1

local M = {}

local ts = ffi.new("struct bench_clock_timespec")

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

return M
