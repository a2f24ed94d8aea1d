-- The main loop of a tool that reports every interval and at the end, as bcc's tools do:
-- sleep, report, until the count of reports or the duration is reached, or Ctrl-C.
--   require("bpflua.intervals").run{interval = 1, count = 5, duration = 10, report = fn}
-- bcc's tools print a last report when Ctrl-C ends them, interval or not; so does this.
local BPF = require("bpflua")

local M = {}

local function is_interrupt(err)
  return tostring(err):find("interrupted", 1, true) ~= nil
end

-- Sleeps up to seconds; returns false when Ctrl-C ended the sleep.
local function nap(seconds)
  local ok, err = pcall(BPF.sleep, seconds)
  if not ok and not is_interrupt(err) then
    error(err, 0)
  end
  return ok, err
end

local function loop(opts)
  local elapsed, since_report, reports = 0, 0, 0
  while true do
    local step = 1
    if opts.interval then
      step = math.min(step, opts.interval - since_report)
    end
    if opts.duration then
      step = math.min(step, opts.duration - elapsed)
    end
    local ok, err = nap(step)
    elapsed, since_report = elapsed + step, since_report + step
    local finished = not ok or (opts.duration and elapsed >= opts.duration - 1e-9)
    if finished or (opts.interval and since_report >= opts.interval - 1e-9) then
      reports = reports + 1
      since_report = 0
      opts.report(reports)
      if not ok then
        error(err, 0)
      end
      if finished or (opts.count and reports >= opts.count) then
        return
      end
    end
  end
end

-- opts: report (called with the report's number), interval (seconds between reports; none:
-- one report at the end), count (stop after this many reports), duration (stop after this
-- many seconds), detaching (print bcc's "Detaching..." when the loop ends: true, or
-- "interrupted" for tools whose bcc says it only on Ctrl-C). After the last report, Ctrl-C
-- goes on as the "interrupted" error it was, so the host exits with 130 as for any
-- interrupted script.
function M.run(opts)
  if not opts.detaching then
    return loop(opts)
  end
  local ok, err = pcall(loop, opts)
  if opts.detaching == true or (not ok and is_interrupt(err)) then
    print("Detaching...")
  end
  if not ok then
    error(err, 0)
  end
end

-- bcc's interval header: a blank line, then the time as HH:MM:SS when timestamps are on.
function M.header(timestamp)
  print()
  if timestamp then
    print(os.date("%H:%M:%S"))
  end
end

-- The top of a screen of bcc's top-like tools (biotop, filetop): the screen cleared (as
-- `clear` does) or, with noclear, a blank line; then the time and the load average.
function M.top_header(noclear)
  if noclear then
    print()
  else
    io.write("\27[H\27[2J")
  end
  local f = io.open("/proc/loadavg")
  local loadavg = f and f:read("*a") or "\n"
  if f then
    f:close()
  end
  print(string.format("%-8s loadavg: %s", os.date("%H:%M:%S"), loadavg))
end

return M
