-- The REPL's exploration commands, plain Lua functions in its environment (and in -e code);
-- scripts get them from require("bpflua.explore"):
--   help()                     what the REPL offers
--   tracepoints("sched:*")     the tracepoints whose "category:event" matches a pattern
--   fields("sched:sched_switch")  a tracepoint's fields: args-> in a TRACEPOINT_PROBE
--   maps(b)                    the tables of a BPF object
--   struct("task_struct")      a kernel struct's fields, offsets and sizes, from BTF
--   ksyms("tcp_*")             the kernel functions a kprobe can take
--   usyms("c", "mall*")        a library's or a binary's functions, for uprobes
--   usdt(path or pid)          the USDT probes of a binary or a process
--   watch(b["dist"], 1)        a table redrawn every second until Ctrl-C
-- They print and return nothing, except errors a script can pcall.
local ffi = require("ffi")
local pretty = require("bpflua.pretty")
local tracefs = require("bpflua.tracefs")
local errors = require("bpflua.errors")

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

-- The "category:event" names of every tracepoint, in tracefs's order.
local function available_events(what)
  local path, why = tracefs.path("available_events")
  local f = path and io.open(path)
  if not f then
    errors.raise(what .. ": cannot read " .. (path or ("available_events: " .. why)))
  end
  local names = {}
  for name in f:lines() do
    names[#names + 1] = name
  end
  f:close()
  return names
end
M.available_events = available_events

local function print_list(list, what)
  for _, line in ipairs(list) do
    print(line)
  end
  print(string.format("(%d %s%s)", #list, what, #list == 1 and "" or "s"))
end

function M.tracepoints(glob)
  if glob ~= nil and type(glob) ~= "string" then
    errors.raise("tracepoints: expected a pattern such as \"sched:*\"")
  end
  local pattern = glob_pattern(glob or "*")
  local found = {}
  for _, name in ipairs(available_events("tracepoints")) do
    if name:find(pattern) then
      found[#found + 1] = name
    end
  end
  table.sort(found)
  print_list(found, "tracepoint")
end


-- The category of an event named without one, when exactly one category has it.
local function category_of(event)
  local categories = {}
  for _, name in ipairs(available_events("fields")) do
    local category, e = name:match("^([^:]+):(.+)$")
    if e == event then
      categories[#categories + 1] = category
    end
  end
  if #categories == 1 then
    return categories[1]
  elseif #categories == 0 then
    errors.raise("fields: no tracepoint is called " .. event .. " (tracepoints(\"*" .. event ..
      "*\") lists those with the name in theirs)")
  end
  table.sort(categories)
  errors.raise("fields: " .. #categories .. " categories have a tracepoint " .. event .. ": " ..
    table.concat(categories, ", ") .. "; name one, as in fields(\"" .. categories[1] .. ":" .. event .. "\")")
end

-- fields("sched:sched_switch"), or fields("sched_switch") when one category has that event.
function M.fields(tracepoint)
  if type(tracepoint) ~= "string" then
    errors.raise("fields: name a tracepoint as \"category:event\", e.g. \"sched:sched_switch\"")
  end
  local category, event = tracepoint:match("^([%w_]+):([%w_]+)$")
  if not category then
    event = tracepoint:match("^[%w_]+$")
    if not event then
      errors.raise("fields: name a tracepoint as \"category:event\", e.g. \"sched:sched_switch\"")
    end
    category = category_of(event)
  end
  local f = tracefs_open("events/" .. category .. "/" .. event .. "/format")
  if not f then
    errors.raise(string.format("fields: no tracepoint %s:%s (tracepoints(\"%s:*\") lists that category)",
      category, event, category))
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
    errors.raise("maps: expected a BPF object, as in maps(b)")
  end
  if b._handle == nil then
    errors.raise("maps: the BPF object was cleaned up")
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
    errors.raise("usdt: expected a binary's path or a pid, as in usdt(\"/usr/bin/python3\")")
  end
  local ok, probes = pcall(require("bpflua.usdt").probes, target)
  if not ok then
    errors.raise((tostring(probes):gsub("^.-usdt_probes: ", "usdt: ")))
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

-- struct("task_struct"): the fields of a kernel struct or union with their offsets and sizes
-- (bit offsets and widths for bit fields), from the kernel's BTF, as bpftrace -lv shows them.
function M.struct(name)
  if type(name) ~= "string" then
    errors.raise("struct: expected a struct's name, as in struct(\"task_struct\")")
  end
  local ok, lines, why = pcall(require("bpflua.kernel_btf").describe, name)
  if not ok or not lines then
    errors.raise("struct: " .. tostring(ok and why or lines))
  end
  print(table.concat(lines, "\n"))
end

local function check_glob(what, glob, example)
  if glob ~= nil and type(glob) ~= "string" then
    errors.raise(what .. ": expected a pattern such as \"" .. example .. "\" (* and ?)")
  end
  return glob_pattern(glob or "*")
end

-- ksyms("tcp_*"): the kernel functions a kprobe can take (tracefs's
-- available_filter_functions, or /proc/kallsyms where that is not readable), as bpftrace -l
-- 'kprobe:tcp_*' lists them.
function M.ksyms(glob)
  local pattern = check_glob("ksyms", glob, "tcp_*")
  local ok, names = pcall(require("bpflua.patterns").get_kprobe_functions, ".")
  if not ok then
    errors.raise("ksyms: " .. tostring(names):gsub("^.-get_kprobe_functions: ", ""))
  end
  local found = {}
  for _, name in ipairs(names) do
    if name:find(pattern) then
      found[#found + 1] = name
    end
  end
  print_list(found, "function")
end

-- usyms("c", "mall*"): the functions of a library (a name as attach_uprobe's name = "c"
-- takes, found as BPF.find_library finds it) or of a binary's path, with their addresses.
function M.usyms(library, glob)
  if type(library) ~= "string" or library == "" then
    errors.raise("usyms: expected a library (\"c\") or a binary's path, as in usyms(\"c\", \"mall*\")")
  end
  local pattern = check_glob("usyms", glob, "mall*")
  local path = require("bpflua.attach").find_library(library)
  local ok, functions = pcall(require("bpflua.patterns").user_functions, path, ".", "usyms")
  if not ok then
    errors.raise((tostring(functions):gsub("^.-usyms: ", "usyms: ")))
  end
  local found = {}
  for _, f in ipairs(functions) do
    if f.name:find(pattern) then
      found[#found + 1] = f
    end
  end
  table.sort(found, function(a, b) return a.name < b.name end)
  local lines = {}
  for i, f in ipairs(found) do
    lines[i] = string.format("0x%08x  %s", f.addr, f.name)
  end
  print(path)
  print_list(lines, "function")
end

-- ---- watch ----------------------------------------------------------------------------------

pcall(ffi.cdef, "int isatty(int fd);")
local CLEAR_SCREEN = "\27[H\27[2J"
local WATCH_TOP = 20

local function numeric(v)
  local n = tonumber(v)
  if n == nil and type(v) == "cdata" then
    local ok, converted = pcall(tonumber, v)
    n = ok and converted or nil
  end
  return n
end

-- The entries of a table with the largest values first (the value's first numeric field for
-- structs, in which case order is that of the keys), at most n.
local function top_lines(t, n)
  local entries = {}
  for key, value in t:items() do
    entries[#entries + 1] = {key = pretty.format(key), value = pretty.format(value), n = numeric(value)}
  end
  table.sort(entries, function(a, b)
    if a.n and b.n and a.n ~= b.n then
      return a.n > b.n
    end
    return a.key < b.key
  end)
  local width = 3
  for i = 1, math.min(n, #entries) do
    width = math.max(width, #entries[i].key)
  end
  local lines = {string.format("%-" .. width .. "s  %s", "KEY", "VALUE")}
  for i = 1, math.min(n, #entries) do
    lines[#lines + 1] = string.format("%-" .. width .. "s  %s", entries[i].key, entries[i].value)
  end
  if #entries > n then
    lines[#lines + 1] = string.format("... %d more", #entries - n)
  end
  return lines
end

-- What watch prints of a table each time.
local function draw_table(t)
  if t.histogram then
    t:print_log2_hist("value")
    return
  end
  for _, line in ipairs(top_lines(t, WATCH_TOP)) do
    print(line)
  end
end

local function is_table_object(value)
  return type(value) == "table" and getmetatable(value) == require("bpflua.table")
end

local function watch_loop(what, interval, count, on_terminal)
  local BPF = require("bpflua.bpf")
  for _ = 1, count or math.huge do
    BPF.sleep(interval)
    if on_terminal then
      io.write(CLEAR_SCREEN)
    end
    print(os.date("%H:%M:%S") .. (on_terminal and "  (Ctrl-C stops)" or ""))
    if type(what) == "function" then
      what()
    else
      draw_table(what)
    end
    io.stdout:flush()
  end
end

-- watch(b["dist"], 1): prints a table every interval seconds (default 1) until Ctrl-C, then
-- returns: a histogram with bcc's bars, other tables as their top 20 entries by value. On a
-- terminal each drawing replaces the last. count, when given, stops after that many. A
-- function in place of the table is called each time instead (watch(function() ... end)).
function M.watch(what, interval, count)
  if not is_table_object(what) and type(what) ~= "function" then
    errors.raise("watch: expected a BPF table (b[\"name\"]) or a function, as in watch(b[\"dist\"], 1)")
  end
  interval = interval == nil and 1 or interval
  if type(interval) ~= "number" or interval ~= interval or interval <= 0 then
    errors.raise("watch: the interval must be a positive number of seconds, not " .. tostring(interval))
  end
  if count ~= nil and (type(count) ~= "number" or count < 1) then
    errors.raise("watch: the count must be a positive number, not " .. tostring(count))
  end
  local ok, err = pcall(watch_loop, what, interval, count, ffi.C.isatty(1) == 1)
  -- Ctrl-C, while it waits or while it draws: back to the prompt (or on in the script)
  if not ok and not errors.is_interrupt(err) then
    error(err, 0)
  end
end

M.help_text = [[
bpflua REPL: Lua (LuaJIT) with BPF and ffi loaded. Expressions print their values.
  b = BPF{text = [==[ ...BPF C... ]==]}   compile, load and attach (see README)
  tracepoints("sched:*")              list tracepoints matching a pattern (* and ?)
  fields("syscalls:sys_enter_openat") a tracepoint's fields (args-> in TRACEPOINT_PROBE)
  maps(b)                             the tables of a BPF object
  usdt("/usr/bin/python3") or usdt(pid)  the USDT probes of a binary or a process
  struct("task_struct")               a kernel struct's fields, offsets and sizes (BTF)
  ksyms("tcp_*")                      kernel functions for kprobes
  usyms("c", "mall*")                 a library's functions for uprobes
  watch(b["dist"], 1)                 redraw a table every second until Ctrl-C
  help()                              this text
Tab completes globals, fields and methods (b:att<Tab>, b["ev<Tab>), tracepoint names in
strings (tracepoints("sched:sched_sw<Tab>), and struct names (struct("task_<Tab>).
Ctrl-C clears the line or stops running code (probes stay attached);
Ctrl-D leaves and detaches everything. History is kept in ~/.bpflua_history.]]

function M.help()
  print(M.help_text)
end

return M
