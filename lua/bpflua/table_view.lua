-- A key/value table's entries in order, for people: t:top(n[, by]) ranks them, t:print([n])
-- writes them as columns, t:to_json() as JSON. Ranks are numbers (per-CPU values summed);
-- ties, and tables whose values have no rank, go in key order (numbers ascending, struct keys
-- field by field), so two reads of the same contents print the same.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")
local errors = require("bpflua.errors")
local histogram = require("bpflua.histogram")
-- (table.lua requires this module when a table first needs it, so pretty, which requires
-- table.lua, can be required here)
local pretty = require("bpflua.pretty")

local M = {}

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")


local function is_char_array(field)
  return field.type == "char" and field.dims ~= nil and #field.dims == 1
end

-- An array ctype as "ctype<char [16]>": whether its elements are char.
local function is_char_array_type(ctype)
  return tostring(ctype):match("^ctype<char %[%d+%]>$") ~= nil
end

-- A field's value as a cell: text up to the NUL for a char array, digits for integers,
-- nested structs and arrays on one line.
local function field_cell(value, field)
  if is_char_array(field) then
    return (ffi.string(value, field.dims[1]):match("^[^%z]*"))
  end
  return pretty.field_text(value, field)
end

-- A whole key or value that is not a struct: a number, a char array (as text), an array.
local function scalar_cell(v)
  if type(v) == "cdata" and is_char_array_type(ffi.typeof(v)) then
    return (ffi.string(v, ffi.sizeof(v)):match("^[^%z]*"))
  end
  return pretty.inline(v)
end

-- A number to sort by, when a cell holds one.
local function sortable(v)
  if type(v) == "number" then
    return v
  elseif type(v) == "cdata" and (ffi.istype(int64_t, v) or ffi.istype(uint64_t, v)) then
    return tonumber(v)
  end
  return nil
end

-- What a key sorts by: a list of numbers and strings, one per field of a struct key.
local function key_parts(t, key)
  local n = sortable(key)
  if n then
    return {n}
  end
  local fields = ctypes.fields(t.Key)
  if not fields then
    return {scalar_cell(key)}
  end
  local parts = {}
  for i, field in ipairs(fields) do
    local value = key[field.name]
    parts[i] = (not field.dims and not field.fields and sortable(value)) or field_cell(value, field)
  end
  return parts
end

local function parts_before(a, b)
  for i = 1, math.max(#a, #b) do
    local x, y = a[i], b[i]
    if x == nil or y == nil then
      return x == nil
    end
    if x ~= y then
      if type(x) == "number" and type(y) == "number" then
        return x < y
      end
      return tostring(x) < tostring(y)
    end
  end
  return false
end

-- entries sorted by rank (highest first) when ranked, then by key.
local function sort_entries(t, entries, ranked)
  local parts = {}
  local function parts_of(e)
    local p = parts[e]
    if not p then
      p = key_parts(t, e.key)
      parts[e] = p
    end
    return p
  end
  table.sort(entries, function(a, b)
    if ranked and a.total ~= b.total then
      return a.total > b.total
    end
    return parts_before(parts_of(a), parts_of(b))
  end)
end

local function sum(list, field)
  local total = 0
  for _, v in ipairs(list) do
    total = total + tonumber(field and v[field] or v)
  end
  return total
end

-- The rank of an entry: a number, never NaN (which would break the sort).
local function checked_rank(t, n, what)
  n = tonumber(n)
  if n == nil then
    errors.raise(string.format("table '%s': top: %s is not a number", t.name, what))
  end
  return n == n and n or -math.huge
end

-- The function giving an entry's rank: by the value, a field of it, or by(key, value).
local function ranker(t, by)
  local percpu = t._percpu
  if by == nil then
    if not t._value_is_number then
      errors.raise(string.format("table '%s': its values are not numbers; rank them by a " ..
        "field (t:top(n, \"%s\")) or a function of key and value", t.name,
        t.value_fields[1] or "field"))
    end
    return function(_, v) return percpu and sum(v) or checked_rank(t, v, "the value") end
  elseif type(by) == "string" then
    if #t.value_fields == 0 or not ffi.offsetof(t.Leaf, by) then
      errors.raise(string.format("table '%s': top: the value has no field '%s' (its fields: %s)",
        t.name, by, #t.value_fields > 0 and table.concat(t.value_fields, ", ") or
        "none, it is not a struct"))
    end
    local what = "field '" .. by .. "'"
    return function(_, v)
      if percpu then
        local total = 0
        for _, each in ipairs(v) do
          total = total + checked_rank(t, each[by], what)
        end
        return total
      end
      return checked_rank(t, v[by], what)
    end
  elseif type(by) == "function" then
    return function(k, v) return checked_rank(t, by(k, v), "by(key, value)'s result") end
  end
  errors.raise(string.format("table '%s': top(n, by): by is a field name or a function of " ..
    "key and value, not a %s", t.name, type(by)))
end

local function check_count(t, n, what)
  if n ~= nil and (type(n) ~= "number" or n < 0 or n % 1 ~= 0) then
    errors.raise(string.format("table '%s': %s(n): n is a count of entries (an integer >= 0), " ..
      "not %s", t.name, what, tostring(n)))
  end
end

local function first(entries, n)
  if n and #entries > n then
    for i = #entries, n + 1, -1 do
      entries[i] = nil
    end
  end
  return entries
end

-- The n entries with the highest rank ({key =, value =, total = rank}), all without n.
function M.top(t, n, by)
  check_count(t, n, "top")
  local rank = ranker(t, by)
  local entries = {}
  for k, v in t:items() do
    entries[#entries + 1] = {key = k, value = v, total = rank(k, v)}
  end
  sort_entries(t, entries, true)
  return first(entries, n)
end

-- Every entry in print's order: ranked by value when values are numbers, else by key.
function M.entries(t, n)
  if t._value_is_number then
    return M.top(t, n)
  end
  local entries = {}
  for k, v in t:items() do
    entries[#entries + 1] = {key = k, value = v}
  end
  sort_entries(t, entries, false)
  return first(entries, n)
end

-- ---- Columns ------------------------------------------------------------------------

local function per_cpu_cell(values)
  local parts = {}
  for cpu, v in ipairs(values) do
    if v ~= 0 then
      parts[#parts + 1] = string.format("cpu%d=%s", cpu - 1, pretty.inline(v))
    end
  end
  return table.concat(parts, " ")
end

-- Whether every byte of a struct value is zero (a CPU that never wrote it).
local bytes_ptr = ffi.typeof("const uint8_t *")

local function is_zero(v)
  local bytes = ffi.cast(bytes_ptr, v)
  for i = 0, ffi.sizeof(v) - 1 do
    if bytes[i] ~= 0 then
      return false
    end
  end
  return true
end

-- The columns for a table: {title, cell = function(row)}; a row is {key =, value =, cpu =}.
local function columns(t)
  local list = {}
  local key_fields = ctypes.fields(t.Key)
  if key_fields then
    for _, field in ipairs(key_fields) do
      list[#list + 1] = {field.name, cell = function(row) return field_cell(row.key[field.name], field) end}
    end
  else
    list[1] = {"key", cell = function(row) return scalar_cell(row.key) end}
  end
  local value_fields = ctypes.fields(t.Leaf)
  if t._percpu and value_fields then
    list[#list + 1] = {"cpu", cell = function(row) return tostring(row.cpu) end}
  end
  if value_fields then
    for _, field in ipairs(value_fields) do
      list[#list + 1] = {field.name, cell = function(row) return field_cell(row.value[field.name], field) end}
    end
  elseif t._percpu then
    list[#list + 1] = {"value", cell = function(row) return scalar_cell(row.total) end}
    list[#list + 1] = {"per CPU", cell = function(row) return per_cpu_cell(row.value) end}
  else
    list[#list + 1] = {"value", cell = function(row) return scalar_cell(row.value) end}
  end
  return list
end

-- The rows of entries: one each, or for per-CPU struct values one per CPU that wrote one.
local function rows(t, entries)
  if not (t._percpu and ctypes.fields(t.Leaf)) then
    return entries
  end
  local list = {}
  for _, e in ipairs(entries) do
    for cpu, v in ipairs(e.value) do
      if not is_zero(v) then
        list[#list + 1] = {key = e.key, value = v, cpu = cpu - 1}
      end
    end
  end
  return list
end

-- t:print([n[, write]]): a header line, then a line per entry (the first n), columns
-- aligned, numbers to the right. A histogram prints as print_log2_hist does.
function M.print(t, n, write)
  check_count(t, n, "print")
  write = write or print
  if t.histogram then
    histogram.print_log2_hist(t, "value", nil, nil, nil, nil, write)
    return
  end
  local cols = columns(t)
  local cells, widths, numeric = {}, {}, {}
  for i, col in ipairs(cols) do
    widths[i], numeric[i] = #col[1], true
  end
  for r, row in ipairs(rows(t, M.entries(t, n))) do
    local line = {}
    for i, col in ipairs(cols) do
      local text = col.cell(row)
      line[i] = text
      widths[i] = math.max(widths[i], #text)
      numeric[i] = numeric[i] and text:match("^%-?[%d.]+$") ~= nil
    end
    cells[r] = line
  end
  local function layout(line)
    local parts = {}
    for i, text in ipairs(line) do
      local pad = string.rep(" ", widths[i] - #text)
      parts[i] = (numeric[i] and #cells > 0) and pad .. text or (i < #line and text .. pad or text)
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local header = {}
  for i, col in ipairs(cols) do
    header[i] = col[1]
  end
  write(layout(header))
  for _, line in ipairs(cells) do
    write(layout(line))
  end
end

-- t:to_json(): [{"key": K, "value": V}, ...] in print's order.
function M.to_json(t)
  local json = require("bpflua.json")
  local list = {}
  local names = {"key", "value"}
  for i, e in ipairs(M.entries(t)) do
    list[i] = json.object(names, e)
  end
  return json.encode(json.array(list))
end

return M
