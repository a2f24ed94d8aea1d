-- scripts/bcc_compat/run.lua as the specs run it: on a few of bcc's tools, with a record
-- cache of their own, its table read back into Lua tables.
local M = {}

-- Whether Debian's bpfcc-tools is there to run; under CI its absence is an error
-- (scripts/setup.sh installs it), elsewhere the caller marks its test pending.
function M.installed()
  local probe = io.open("/usr/sbin/runqlat-bpfcc")
  if probe then
    probe:close()
    return true
  end
  if os.getenv("CI") == "true" then
    error("bpfcc-tools is not installed (scripts/setup.sh installs it)", 2)
  end
  return false
end

-- The runner's output for tools (a comma-separated list), and the path its cache had: the
-- cache is gone, but the targets and loop devices the run made were named after it.
function M.run(tools)
  local cache = os.tmpname()
  os.remove(cache)
  local p = io.popen("bpflua scripts/bcc_compat/run.lua -t " .. tools .. " --cache " .. cache .. " 2>&1")
  local output = p:read("*a")
  p:close()
  os.execute("rm -rf " .. cache)
  return output, cache
end

-- tool -> {generated, compiles, loads, attaches}, the table's columns as printed.
function M.rows(output)
  local rows = {}
  for tool, generated, compiles, loads, attaches in output:gmatch(
      "\n(%S+)%s+(%S+)%s+(%S+)%s+(%S+ ?[%d/]*)%s+(%S+ ?[%d/]*)") do
    rows[tool] = {generated, compiles, loads, attaches}
  end
  return rows
end

-- tool -> "attached/points", for the tools that compiled, loaded and attached.
function M.attached(output)
  local attached = {}
  for tool, points in output:gmatch("\n(%S+)%s+yes%s+yes%s+yes %d+/%d+%s+yes (%d+/%d+)") do
    attached[tool] = points
  end
  return attached
end

return M
