-- The main loop of a tool that reports every interval and/or at the end, as bcc's tools do:
-- sleep, report, until the duration is up or Ctrl-C.
--   require("bpflua.intervals").run{interval = 1, duration = 10, report = print_counts}
local BPF = require("bpflua")

local M = {}

local function is_interrupt(err)
  return tostring(err):find("interrupted", 1, true) ~= nil
end

-- Calls report() after every interval seconds (when interval is given) and once more at
-- the end when there was no interval, stopping after duration seconds (when given) or at
-- Ctrl-C. After the last report, Ctrl-C goes on as the "interrupted" error it was, so the
-- host exits with 130 as for any interrupted script.
function M.run(opts)
  local elapsed = 0
  local ok, err = pcall(function()
    while not opts.duration or elapsed < opts.duration do
      local step = opts.interval or 1
      if opts.duration then
        step = math.min(step, opts.duration - elapsed)
      end
      BPF.sleep(step)
      elapsed = elapsed + step
      if opts.interval then
        opts.report()
      end
    end
  end)
  if not ok and not is_interrupt(err) then
    error(err, 0)
  end
  if not opts.interval then
    opts.report()
  end
  if not ok then
    error(err, 0)
  end
end

return M
