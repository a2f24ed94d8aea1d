-- How the REPL shows values: Lua tables nested to a bounded depth with sorted keys, structs
-- with their fields, 64-bit integers as plain numbers, BPF objects and their tables as a
-- summary, histograms as bcc's bars.
--
--   pretty.show(...)     the REPL's line for an input's results (strings as they are)
--   pretty.format(v)     one value as Lua-like text (strings quoted)
--   pretty.inline(v)     the same on one line (tostring of the structs bpflua defines)
--   pretty.field_text(v, field)  one line for a struct's field (a field of ctypes.fields)
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")
local histogram = require("bpflua.histogram")
local Table = require("bpflua.table")
local RingBuf = require("bpflua.ringbuf").RingBuf
local PerfBuf = require("bpflua.perfbuf").PerfBuf
local StackTrace = require("bpflua.stack_trace")
local BPF = require("bpflua.bpf")

local M = {
  max_depth = 4,    -- deeper tables show as {...}
  max_items = 40,   -- entries shown per table, array or struct
  width = 100,      -- a table longer than this takes a line per entry
}

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local keywords = {}
for word in ([[and break do else elseif end false for function goto if in local nil not or
               repeat return then true until while]]):gmatch("%a+") do
  keywords[word] = true
end

local escapes = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r"}

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\%03d", c:byte())
  end) .. '"'
end

-- Integral numbers print with all their digits (a nanosecond timestamp, a kernel address)
-- rather than in LuaJIT's exponent form.
local function number_text(n)
  if n == n and n % 1 == 0 and n > -2 ^ 63 and n < 2 ^ 63 then
    return string.format("%d", n)
  end
  return tostring(n)
end

-- A list of entries as "{a, b}" when it fits a line, otherwise one entry per line.
local function join(items)
  if #items == 0 then
    return "{}"
  end
  local one_line = "{" .. table.concat(items, ", ") .. "}"
  if #one_line <= M.width and not one_line:find("\n", 1, true) then
    return one_line
  end
  local lines = {}
  for i, item in ipairs(items) do
    lines[i] = "  " .. item:gsub("\n", "\n  ")
  end
  return "{\n" .. table.concat(lines, ",\n") .. "\n}"
end

local format_value

-- ---- Lua tables -------------------------------------------------------------------------

local type_rank = {number = 1, string = 2, boolean = 3}

local function key_before(a, b)
  local ra, rb = type_rank[type(a)] or 4, type_rank[type(b)] or 4
  if ra ~= rb then
    return ra < rb
  end
  if ra <= 2 then
    return a < b
  end
  return tostring(a) < tostring(b)
end

local function key_text(k, depth, path)
  if type(k) == "string" and k:match("^[%a_][%w_]*$") and not keywords[k] then
    return k
  end
  return "[" .. format_value(k, depth, path) .. "]"
end

local function format_table(t, depth, path)
  if path[t] then
    return "<cycle>"
  end
  if depth >= M.max_depth then
    return "{...}"
  end
  path[t] = true
  local items, n = {}, 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= "number" or k < 1 or k > n or k % 1 ~= 0 then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, key_before)
  local total = n + #keys
  for i = 1, math.min(n, M.max_items) do
    items[#items + 1] = format_value(t[i], depth + 1, path)
  end
  for i = 1, math.min(#keys, M.max_items - #items) do
    local k = keys[i]
    items[#items + 1] = key_text(k, depth + 1, path) .. " = " .. format_value(t[k], depth + 1, path)
  end
  if total > #items then
    items[#items + 1] = string.format("... (%d more)", total - #items)
  end
  path[t] = nil
  return join(items)
end

-- ---- cdata ------------------------------------------------------------------------------

local format_record

local function format_field(value, field, dim, depth, path)
  local dims = field.dims
  if dims and dim <= #dims then
    if field.type == "char" and dim == #dims then
      -- char arrays are text, up to the first NUL and never past the array
      return quote((ffi.string(value, dims[dim]):match("^[^%z]*")))
    end
    if depth >= M.max_depth then
      return "{...}"
    end
    local items = {}
    for i = 0, math.min(dims[dim], M.max_items) - 1 do
      items[#items + 1] = format_field(value[i], field, dim + 1, depth + 1, path)
    end
    if dims[dim] > M.max_items then
      items[#items + 1] = string.format("... (%d more)", dims[dim] - M.max_items)
    end
    return join(items)
  end
  if field.fields then
    return format_record(value, field.fields, depth, path)
  end
  return format_value(value, depth, path)
end

format_record = function(value, fields, depth, path)
  if depth >= M.max_depth then
    return "{...}"
  end
  local items = {}
  for i, field in ipairs(fields) do
    if i > M.max_items then
      items[#items + 1] = string.format("... (%d more)", #fields - M.max_items)
      break
    end
    items[#items + 1] = field.name .. " = " .. format_field(value[field.name], field, 1, depth + 1, path)
  end
  return join(items)
end

-- An array ctype the FFI names as "ctype<int [4]>" (or a reference to one): its element
-- type and length.
local function array_shape(ctype)
  local element, length = tostring(ctype):match("^ctype<([%w_ ]-) ?%[(%d+)%] ?&?>$")
  return element, tonumber(length)
end

local function format_cdata(v, depth, path)
  if ffi.istype(int64_t, v) or ffi.istype(uint64_t, v) then
    return (tostring(v):gsub("U?LL$", ""))
  end
  local ctype = ffi.typeof(v)
  if tostring(ctype):find("%*>$") and v == nil then
    -- A NULL pointer to a struct: its fields cannot be read.
    return "NULL"
  end
  local fields = ctypes.fields(ctype)
  if fields then
    return format_record(v, fields, depth, path)
  end
  local element, length = array_shape(ctype)
  if element then
    return format_field(v, {type = element, dims = {length}}, 1, depth, path)
  end
  local n = tonumber(v)
  if n then
    return number_text(n)
  end
  return tostring(v)
end

-- ---- BPF objects and tables -------------------------------------------------------------

-- A key or value ctype as C: "uint32_t", "char[16]", "struct {uint32_t pid; char comm[16]}".
local function describe_fields(fields)
  local parts = {}
  for i, field in ipairs(fields) do
    local dims = ""
    for _, n in ipairs(field.dims or {}) do
      dims = dims .. "[" .. n .. "]"
    end
    parts[i] = (field.fields and describe_fields(field.fields) or field.type) .. " " .. field.name .. dims
  end
  return "struct {" .. table.concat(parts, "; ") .. "}"
end

-- The FFI names the narrower fixed-width types by their C names; bpflua writes them (and
-- shows them) as the fixed-width ones.
local fixed_width = {
  ["int"] = "int32_t", ["unsigned int"] = "uint32_t", ["short"] = "int16_t",
  ["unsigned short"] = "uint16_t", ["signed char"] = "int8_t", ["unsigned char"] = "uint8_t",
}

local function describe_type(ctype)
  local fields = ctypes.fields(ctype)
  if fields then
    return describe_fields(fields)
  end
  local name = tostring(ctype):match("^ctype<(.*)>$") or tostring(ctype)
  return fixed_width[name] or (name:gsub(" %[", "["))
end

-- One line about a table: its type, key and value types and entries.
local function table_line(t)
  if getmetatable(t) == RingBuf then
    local events = t._event_info and (", events " .. t._event_info.type_name) or ""
    return string.format("ringbuf, %d bytes%s", t.size, events)
  end
  if getmetatable(t) == PerfBuf then
    local events = t._event_info and (", events " .. t._event_info.type_name) or ""
    return string.format("perf_event_array, %s%s", t._rings and ("open on " .. #t._rings .. " CPUs")
      or "not open", events)
  end
  if rawget(t, "Key") == nil then
    -- Program arrays, queues, maps of maps...: their own summary.
    return (tostring(t):gsub("^<(.*)>$", "%1"))
  end
  local ok, entries = pcall(t.len, t)
  return string.format("%s, key %s, value %s, %s of %d entries", t.histogram and "histogram" or t.type,
    describe_type(t.Key), describe_type(t.Leaf), ok and tostring(entries) or "?", t.max_entries)
end

-- The lines of a histogram as bcc prints them (empty when it has no counts).
local function histogram_lines(t)
  local lines = {}
  histogram.print_log2_hist(t, "value", nil, nil, nil, nil, function(line)
    lines[#lines + 1] = line
  end)
  return lines
end

local function format_table_object(t, with_bars)
  if t._state.closed then
    return string.format("<BPF table '%s' (its object was cleaned up)>", t.name)
  end
  local text = string.format("<BPF table '%s': %s>", t.name, table_line(t))
  if with_bars and t.histogram then
    local lines = histogram_lines(t)
    if #lines > 0 then
      text = text .. "\n" .. table.concat(lines, "\n")
    end
  end
  return text
end

-- The tables of a BPF object, a line each: name, type, key and value types, entries.
function M.table_lines(b)
  local names, lines, width = b:table_names(), {}, 0
  for _, name in ipairs(names) do
    width = math.max(width, #name)
  end
  for i, name in ipairs(names) do
    lines[i] = string.format("%-" .. width .. "s  %s", name, table_line(b[name]))
  end
  return lines
end

local function format_bpf_object(b)
  if b._handle == nil then
    return tostring(b)
  end
  local attached = b:num_attached()
  for _, list in pairs(b._attachments) do
    attached = attached + #list
  end
  local lines = M.table_lines(b)
  local text = string.format("<BPF object from %s: %d attached, %d table%s>", b._source_name,
    attached, #lines, #lines == 1 and "" or "s")
  if #lines > 0 then
    text = text .. "\n  " .. table.concat(lines, "\n  ")
  end
  return text
end

-- ---- Any value --------------------------------------------------------------------------

format_value = function(v, depth, path)
  local kind = type(v)
  if kind == "string" then
    return quote(v)
  elseif kind == "number" then
    return number_text(v)
  elseif kind == "cdata" then
    return format_cdata(v, depth, path)
  elseif kind == "table" then
    local mt = getmetatable(v)
    if BPF.is_object(v) then
      return format_bpf_object(v)
    elseif mt == Table or mt == RingBuf or mt == PerfBuf or mt == StackTrace then
      return format_table_object(v, depth == 0)
    elseif mt and mt.__tostring then
      return tostring(v)
    end
    return format_table(v, depth, path)
  end
  return tostring(v)
end

function M.format(v)
  return format_value(v, 0, {})
end

-- fn(...) with every table and struct on one line, however long.
local function on_one_line(fn, ...)
  local width = M.width
  M.width = math.huge
  local ok, text = pcall(fn, ...)
  M.width = width
  if not ok then
    error(text, 0)
  end
  return text
end

function M.inline(v)
  return on_one_line(format_value, v, 0, {})
end

function M.field_text(v, field)
  return on_one_line(format_field, v, field, 1, 0, {})
end

-- The results of an input, as the REPL prints them: separated by tabs, strings unquoted as
-- Lua's own REPL prints them.
function M.show(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or M.format(v)
  end
  return table.concat(parts, "\t")
end

return M
