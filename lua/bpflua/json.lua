-- JSON text of tables' keys and values, through lua-cjson (Debian's lua-cjson; LuaRocks'
-- lua-cjson), loaded when JSON is first asked for. Structs become objects of their fields,
-- char arrays strings, other arrays lists, 64-bit integers exact numbers.
--
--   json.encode(v)              v: Lua tables, numbers, strings, booleans, nil (null), cdata
--   json.array(list)            a Lua list that is a JSON array even when empty ([], not {})
--   json.object(names, values)  an object whose keys come in the order of names
--
-- Objects keep an order: struct fields as declared, the names given to json.object, the
-- keys of other Lua tables sorted. cjson writes a table's keys in hash order (which changes
-- from run to run) and integers with 14 significant digits, so the objects, arrays and
-- integers are put together here, and cjson writes the strings and the other numbers.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")
local errors = require("bpflua.errors")

local M = {}

local cjson -- a private instance: the caller's own settings of cjson stay theirs

local function load_cjson()
  if cjson then
    return cjson
  end
  local ok, module = pcall(require, "cjson")
  if not ok then
    errors.raise("JSON output needs lua-cjson, which is not installed (Debian/Ubuntu: apt-get " ..
      "install lua-cjson; LuaRocks: luarocks install lua-cjson): " ..
      tostring(module):match("^[^\n]*"))
  end
  cjson = module.new()
  return cjson
end

local array_mt, object_mt = {}, {}

function M.array(list)
  return setmetatable(list, array_mt)
end

function M.object(names, values)
  return setmetatable({names = names, values = values}, object_mt)
end

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

local write -- write(v, out): appends v's JSON text to the list out

local function write_scalar(v, out)
  local ok, text = pcall(cjson.encode, v)
  if not ok then
    errors.raise("cannot write JSON: " .. tostring(text))
  end
  out[#out + 1] = text
end

local function write_list(n, item, out)
  out[#out + 1] = "["
  for i = 1, n do
    if i > 1 then
      out[#out + 1] = ","
    end
    item(i, out)
  end
  out[#out + 1] = "]"
end

local function write_object(names, value_of, out)
  out[#out + 1] = "{"
  for i, name in ipairs(names) do
    if i > 1 then
      out[#out + 1] = ","
    end
    write_scalar(tostring(name), out)
    out[#out + 1] = ":"
    write(value_of(name), out)
  end
  out[#out + 1] = "}"
end

-- An array of a struct field or of a whole value: dims from the outermost, char arrays text.
local function write_array(value, element, dims, dim, out)
  local n = dims[dim]
  if element == "char" and dim == #dims then
    write_scalar((ffi.string(value, n):match("^[^%z]*")), out)
    return
  end
  write_list(n, function(i)
    if dim < #dims then
      write_array(value[i - 1], element, dims, dim + 1, out)
    else
      write(value[i - 1], out)
    end
  end, out)
end

local write_record

local function write_field(value, field, out)
  if field.dims and field.fields then
    -- an array of anonymous structs: each by the field list
    write_list(field.dims[1], function(i) write_record(value[i - 1], field.fields, out) end, out)
  elseif field.dims then
    write_array(value, field.type, field.dims, 1, out)
  elseif field.fields then
    write_record(value, field.fields, out)
  else
    write(value, out)
  end
end

write_record = function(v, fields, out)
  out[#out + 1] = "{"
  for i, field in ipairs(fields) do
    if i > 1 then
      out[#out + 1] = ","
    end
    write_scalar(field.name, out)
    out[#out + 1] = ":"
    write_field(v[field.name], field, out)
  end
  out[#out + 1] = "}"
end

local function write_cdata(v, out)
  if ffi.istype(int64_t, v) or ffi.istype(uint64_t, v) then
    out[#out + 1] = (tostring(v):gsub("U?LL$", ""))
    return
  end
  local ctype = ffi.typeof(v)
  local name = tostring(ctype)
  if name:find("%*>$") and v == nil then
    out[#out + 1] = "null"
    return
  end
  local fields = ctypes.fields(ctype)
  if fields then
    write_record(v, fields, out)
    return
  end
  local element, length = name:match("^ctype<([%w_ ]-) ?%[(%d+)%] ?&?>$")
  if element then
    write_array(v, element, {tonumber(length)}, 1, out)
    return
  end
  local n = tonumber(v)
  if n == nil then
    errors.raise("cannot write a " .. name .. " as JSON")
  end
  write(n, out)
end

local type_rank = {number = 1, string = 2}

local function key_before(a, b)
  local ra, rb = type_rank[type(a)] or 3, type_rank[type(b)] or 3
  if ra ~= rb then
    return ra < rb
  end
  if ra == 3 then
    return tostring(a) < tostring(b)
  end
  return a < b
end

local function write_table(t, out)
  local mt = getmetatable(t)
  if mt == object_mt then
    write_object(t.names, function(name) return t.values[name] end, out)
    return
  end
  local n, count = #t, 0
  for _ in pairs(t) do
    count = count + 1
  end
  if mt == array_mt or (n > 0 and n == count) then
    write_list(n, function(i) write(t[i], out) end, out)
    return
  end
  local names = {}
  for k in pairs(t) do
    names[#names + 1] = k
  end
  table.sort(names, key_before)
  write_object(names, function(name) return t[name] end, out)
end

write = function(v, out)
  local kind = type(v)
  if kind == "number" then
    if v % 1 == 0 and v > -2 ^ 63 and v < 2 ^ 63 then
      out[#out + 1] = string.format("%d", v) -- every digit (cjson keeps 14)
    else
      write_scalar(v, out)
    end
  elseif kind == "string" or kind == "boolean" then
    write_scalar(v, out)
  elseif kind == "nil" then
    out[#out + 1] = "null"
  elseif kind == "cdata" then
    write_cdata(v, out)
  elseif kind == "table" then
    write_table(v, out)
  else
    errors.raise("cannot write a " .. kind .. " as JSON")
  end
end

function M.encode(v)
  load_cjson()
  local out = {}
  write(v, out)
  return table.concat(out)
end

return M
