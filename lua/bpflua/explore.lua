-- The REPL's exploration commands, plain Lua functions in its environment:
--   help()                     what the REPL offers
--   tracepoints("sched:*")     the tracepoints whose "category:event" matches a pattern
--   fields("sched:sched_switch")  a tracepoint's fields: args-> in a TRACEPOINT_PROBE
--   maps(b)                    the tables of a BPF object
-- They print and return nothing, except errors a script can pcall.
local pretty = require("bpflua.pretty")
local tracefs = require("bpflua.tracefs")

local M = {}

local function tracefs_open(name)
  local path = tracefs.path(name)
  return path and io.open(path)
end

-- "sched:*" as a Lua pattern: * any text, ? one character, the rest literally. A pattern
-- with neither is looked for anywhere in the name.
local function glob_pattern(glob)
  local escaped = glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0")
  if not glob:find("[*?]") then
    return escaped
  end
  return "^" .. escaped:gsub("%*", ".*"):gsub("%?", ".") .. "$"
end

function M.tracepoints(glob)
  if glob ~= nil and type(glob) ~= "string" then
    error("tracepoints: expected a pattern such as \"sched:*\"", 2)
  end
  local path, why = tracefs.path("available_events")
  local f = path and io.open(path)
  if not f then
    error("tracepoints: cannot read " .. (path or ("available_events: " .. why)), 2)
  end
  local pattern = glob_pattern(glob or "*")
  local found = {}
  for name in f:lines() do
    if name:find(pattern) then
      found[#found + 1] = name
    end
  end
  f:close()
  table.sort(found)
  for _, name in ipairs(found) do
    print(name)
  end
  print(string.format("(%d tracepoint%s)", #found, #found == 1 and "" or "s"))
end

function M.fields(tracepoint)
  local category, event = tostring(tracepoint):match("^([%w_]+):([%w_]+)$")
  if not category then
    error("fields: name a tracepoint as \"category:event\", e.g. \"sched:sched_switch\"", 2)
  end
  local f = tracefs_open("events/" .. category .. "/" .. event .. "/format")
  if not f then
    error(string.format("fields: no tracepoint %s:%s (tracepoints(\"%s:*\") lists that category)",
      category, event, category), 2)
  end
  local rows = {}
  for line in f:lines() do
    local decl, offset, size = line:match("field:(.-);%s*offset:(%d+);%s*size:(%d+);")
    -- common_* is the header every event has; bcc hides it from args too
    if decl and not decl:match("common_[%w_]+$") then
      rows[#rows + 1] = string.format("%6s %5s  %s", offset, size, decl)
    end
  end
  f:close()
  print(category .. ":" .. event .. " (args-> in TRACEPOINT_PROBE(" .. category .. ", " .. event .. "))")
  print("offset  size  field")
  for _, row in ipairs(rows) do
    print(row)
  end
end

function M.maps(b)
  if not require("bpflua.bpf").is_object(b) then
    error("maps: expected a BPF object, as in maps(b)", 2)
  end
  if b._handle == nil then
    error("maps: the BPF object was cleaned up", 2)
  end
  local lines = pretty.table_lines(b)
  for _, line in ipairs(lines) do
    print(line)
  end
  if #lines == 0 then
    print("(no tables)")
  end
end

-- usdt("/usr/bin/python3.11") or usdt(pid): the USDT probes of a binary or a process, as
-- bcc's tplist -l: provider:name, where, how many locations, the semaphore, the arguments.
function M.usdt(target)
  if type(target) ~= "string" and type(target) ~= "number" then
    error("usdt: expected a binary's path or a pid, as in usdt(\"/usr/bin/python3\")", 2)
  end
  local ok, probes = pcall(require("bpflua.usdt").probes, target)
  if not ok then
    error(tostring(probes):gsub("^usdt_probes: ", "usdt: "), 2)
  end
  for _, p in ipairs(probes) do
    print(string.format("%s %s:%s  %d location%s%s", p.path, p.provider, p.name, p.nlocations,
      p.nlocations == 1 and "" or "s", p.semaphore and string.format("  semaphore 0x%x", p.semaphore) or ""))
    for i, loc in ipairs(p.locations) do
      print(string.format("  0x%x  %s%s", loc.address, #loc.args > 0 and table.concat(loc.args, " ") or "(no arguments)",
        loc.error and ("  [" .. loc.error .. "]") or ""))
      if i == 5 and #p.locations > 6 then
        print(string.format("  ... %d more", #p.locations - 5))
        break
      end
    end
  end
  print(string.format("(%d probe%s)", #probes, #probes == 1 and "" or "s"))
end

M.help_text = [[
bpflua REPL: Lua (LuaJIT) with BPF and ffi loaded. Expressions print their values.
  b = BPF{text = [==[ ...BPF C... ]==]}   compile, load and attach (see README)
  tracepoints("sched:*")              list tracepoints matching a pattern (* and ?)
  fields("syscalls:sys_enter_openat") a tracepoint's fields (args-> in TRACEPOINT_PROBE)
  maps(b)                             the tables of a BPF object
  usdt("/usr/bin/python3") or usdt(pid)  the USDT probes of a binary or a process
  help()                              this text
Tab completes globals, fields and methods (b:att<Tab>, b["ev<Tab>).
Ctrl-C clears the line or stops running code (probes stay attached);
Ctrl-D leaves and detaches everything. History is kept in ~/.bpflua_history.]]

function M.help()
  print(M.help_text)
end

return M
