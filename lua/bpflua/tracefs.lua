-- Where tracefs is, as libbpflua finds it (bpflua_tracefs_dir: /sys/kernel/tracing, mounted
-- there when nothing is, else debugfs's /sys/kernel/debug/tracing), for the Lua modules that
-- read it.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

M.NOT_MOUNTED = "tracefs is not mounted and could not be mounted at /sys/kernel/tracing"

-- The path of name inside tracefs ("trace_pipe", "events/sched/sched_switch/format"), or nil
-- and M.NOT_MOUNTED.
function M.path(name)
  local dir = lib.bpflua_tracefs_dir()
  if dir == nil then
    return nil, M.NOT_MOUNTED
  end
  return ffi.string(dir) .. "/" .. name
end

return M
