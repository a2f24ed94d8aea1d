-- A small option parser for the tools in scripts/: "-p 123", "--pid 123", flags, positional
-- arguments, and -h/--help printing the usage.
--   local opts = require("bpflua.args").parse(arg, {
--     usage = "opensnoop.lua [-p PID] [-d SECONDS]",
--     {"-p", "--pid", "pid", "number", "trace this process only"},
--     {"-x", "--failed", "failed", "flag", "show failed opens only"},
--     {"-d", "--duration", "duration", "number", "stop after", metavar = "SECONDS"},
--   })
local M = {}

local function help(spec)
  local lines = {"usage: " .. spec.usage}
  if spec.description then
    lines[#lines + 1] = spec.description
  end
  for _, o in ipairs(spec) do
    local takes = o[4] == "flag" and "" or (" " .. (o.metavar or o[3]:upper()))
    lines[#lines + 1] = string.format("  %-24s %s", o[1] .. ", " .. o[2] .. takes, o[5])
  end
  lines[#lines + 1] = string.format("  %-24s %s", "-h, --help", "show this help")
  return table.concat(lines, "\n")
end

-- Returns the options (positional arguments in opts[1..n]); prints the usage and exits on
-- -h (status 0) or on a bad argument (status 2, as argparse does).
function M.parse(argv, spec)
  local opts, i = {}, 1
  for _, o in ipairs(spec) do
    opts[o[3]] = o.default
  end
  local function fail(message)
    local program = spec.usage:match("^%S+")
    io.stderr:write(program .. ": " .. message .. "\n" .. help(spec) .. "\n")
    os.exit(2)
  end
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(help(spec))
      os.exit(0)
    end
    local matched
    for _, o in ipairs(spec) do
      if a == o[1] or a == o[2] then
        matched = o
      end
    end
    if matched then
      if matched[4] == "flag" then
        opts[matched[3]] = true
      else
        local v = argv[i + 1]
        if v == nil then
          fail(a .. " needs a value")
        end
        if matched[4] == "number" then
          v = tonumber(v) or fail(a .. " needs a number, not '" .. v .. "'")
        end
        opts[matched[3]] = v
        i = i + 1
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" then
      fail("unknown option " .. a)
    else
      opts[#opts + 1] = a
    end
    i = i + 1
  end
  return opts
end

return M
