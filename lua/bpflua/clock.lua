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

-- bcc's leading columns of the network tools: TIME (HH:MM:SS, -T) and TIME(s) (seconds
-- since the first event, -t), space-aligned or comma-separated (-s).
--   local lead = clock.leading_columns{time = opts.time, timestamp = opts.timestamp, csv = opts.csv}
--   print(lead.header() .. ...); print(lead.row(e.ts_us) .. ...)
function M.leading_columns(opts)
  local first_us
  local lead = {}
  function lead.header()
    local h = ""
    if opts.time then
      h = h .. (opts.csv and "TIME," or string.format("%-8s ", "TIME"))
    end
    if opts.timestamp then
      h = h .. (opts.csv and "TIME(s)," or string.format("%-9s ", "TIME(s)"))
    end
    return h
  end
  function lead.row(ts_us)
    local r = ""
    if opts.time then
      local now = os.date("%H:%M:%S")
      r = r .. (opts.csv and (now .. ",") or string.format("%-8s ", now))
    end
    if opts.timestamp then
      first_us = first_us or ts_us
      local delta = tonumber(ts_us - first_us) / 1e6
      r = r .. (opts.csv and string.format("%.6f,", delta) or string.format("%-9.6f ", delta))
    end
    return r
  end
  return lead
end

return M
