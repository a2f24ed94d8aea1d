-- Wall-clock and monotonic time for the tools' timestamps: HH:MM:SS, with milliseconds where
-- bcc prints them.
local ffi = require("ffi")

ffi.cdef[[
struct bpflua_clock_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct bpflua_clock_timespec *ts);
]]

local CLOCK_REALTIME, CLOCK_MONOTONIC = 0, 1
local ts = ffi.new("struct bpflua_clock_timespec")

local M = {}

-- Seconds since the epoch, with the fraction.
function M.realtime()
  ffi.C.clock_gettime(CLOCK_REALTIME, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- Nanoseconds of CLOCK_MONOTONIC: the clock of bpf_ktime_get_ns().
function M.monotonic_ns()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1e9 + tonumber(ts.tv_nsec)
end

-- "HH:MM:SS" now, or "HH:MM:SS.mmm" with millis; in UTC when utc is true.
function M.time_of_day(millis, utc)
  local now = M.realtime()
  local whole = math.floor(now)
  local text = os.date(utc and "!%H:%M:%S" or "%H:%M:%S", whole)
  if millis then
    text = text .. string.format(".%03d", math.floor((now - whole) * 1000))
  end
  return text
end

return M
