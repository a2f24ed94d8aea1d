-- Perf-map files: the names JIT compilers (LuaJIT, Node's --perf-basic-prof, the JVM's
-- perf-map-agent, .NET) give the code they put in anonymous memory, one line per function,
-- "START SIZE name" in hex, in /tmp/perf-PID.map. As bcc, the file is the one the process
-- itself wrote: under its own root (/proc/PID/root) and named by its pid in its own pid
-- namespace (NStgid), so a JIT in a container is named too.
local M = {}

local maps = {} -- pid -> {path =, size =, starts = {}, sizes = {}, names = {}}

-- The pid of process pid in its innermost pid namespace (the last NStgid of its status).
local function namespace_pid(pid)
  local f = io.open("/proc/" .. pid .. "/status")
  local text = f and f:read("*a")
  if f then
    f:close()
  end
  local ids = text and text:match("\nNStgid:%s*([%d%s]-)\n")
  local last = ids and ids:match("(%d+)%s*$")
  return last and tonumber(last) or pid
end

-- The perf map's path for pid: in a pid namespace of its own (a container), the one under
-- the process's root named by its pid there; else ours; nil when there is none.
local function find(pid)
  local nspid = namespace_pid(pid)
  local candidates = {string.format("/tmp/perf-%d.map", pid)}
  if nspid ~= pid then
    table.insert(candidates, 1, string.format("/proc/%d/root/tmp/perf-%d.map", pid, nspid))
  end
  for _, path in ipairs(candidates) do
    local f = io.open(path)
    if f then
      f:close()
      return path
    end
  end
end

local function parse_hex(text)
  return tonumber((text:gsub("^0[xX]", "")), 16)
end

-- Reads the map into starts/sizes/names sorted by start. A JIT that reuses memory writes a
-- second line for the same start: the later line wins, as in perf.
local function read(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local text = f:read("*a") or ""
  f:close()
  local entries = {}
  for line in text:gmatch("[^\n]+") do
    local start, size, name = line:match("^%s*(%S+)%s+(%S+)%s+(.-)%s*$")
    start, size = start and parse_hex(start), size and parse_hex(size)
    if start and size and name ~= "" then
      entries[#entries + 1] = {start = start, size = size, name = name, line = #entries}
    end
  end
  table.sort(entries, function(a, b)
    if a.start ~= b.start then
      return a.start < b.start
    end
    return a.line < b.line
  end)
  local map = {path = path, size = #text, starts = {}, sizes = {}, names = {}}
  for _, e in ipairs(entries) do
    local n = #map.starts
    if n > 0 and map.starts[n] == e.start then
      n = n - 1 -- the later line for the same start replaces the earlier
    end
    map.starts[n + 1], map.sizes[n + 1], map.names[n + 1] = e.start, e.size, e.name
  end
  return map
end

-- The index of the entry holding addr, or nil.
local function search(map, addr)
  local starts = map.starts
  local lo, hi, found = 1, #starts, nil
  while lo <= hi do
    local mid = math.floor((lo + hi) / 2)
    if starts[mid] <= addr then
      found, lo = mid, mid + 1
    else
      hi = mid - 1
    end
  end
  if found and addr < starts[found] + map.sizes[found] then
    return found
  end
end

-- The size of the file at path, or nil.
local function file_size(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local size = f:seek("end")
  f:close()
  return size
end

-- The name for addr in process pid's perf map, the offset in it and the map's path; nil
-- when the process has no map or the map has no such address. A miss re-reads a map that has
-- grown since (the JIT has compiled more).
function M.lookup(pid, addr)
  local map = maps[pid]
  local i = map and search(map, addr)
  if not i then
    local path = map and map.path or find(pid)
    if path and (not map or file_size(path) ~= map.size) then
      map = read(path)
      maps[pid] = map
      i = map and search(map, addr)
    end
  end
  if not i then
    return nil
  end
  return map.names[i], addr - map.starts[i], map.path
end

return M
