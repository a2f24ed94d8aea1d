-- JSON text of tables' keys and values, through lua-cjson (Debian's lua-cjson; LuaRocks'
-- lua-cjson), loaded when JSON is first asked for. Structs become objects of their fields,
-- char arrays strings, other arrays lists, 64-bit integers exact numbers.
--
--   json.encode(v)      v: Lua tables, numbers, strings, booleans, nil (null) and cdata
--   json.array(list)    marks a Lua list as a JSON array, so that an empty one is [] ({} else)
--
-- lua-cjson writes numbers with at most 14 significant digits and has no empty array: both
-- go into the text as placeholders (strings cjson cannot meet in table data, which stops at
-- a NUL) that are replaced by the exact text afterwards.
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

local array_mt = {}

function M.array(list)
  return setmetatable(list, array_mt)
end

local int64_t, uint64_t = ffi.typeof("int64_t"), ffi.typeof("uint64_t")

-- Integers from here on lose digits in cjson's 14 significant ones.
local EXACT_LIMIT = 1e14
local MARK = "\0bpflua-json-raw:"

-- plain(v) turns v into what cjson encodes, recording raw texts in raws.
local plain

local function raw(raws, text)
  raws[#raws + 1] = text
  return MARK .. #raws
end

-- An array of a struct field or of a whole value: dims from the outermost, char arrays text.
local function plain_array(value, element, dims, dim, raws)
  local n = dims[dim]
  if element == "char" and dim == #dims then
    return (ffi.string(value, n):match("^[^%z]*"))
  end
  if n == 0 then
    return raw(raws, "[]")
  end
  local list = {}
  for i = 0, n - 1 do
    list[i + 1] = dim < #dims and plain_array(value[i], element, dims, dim + 1, raws) or
      plain(value[i], raws)
  end
  return list
end

local function plain_record(v, fields, raws)
  local object = {}
  for _, field in ipairs(fields) do
    local value = v[field.name]
    if field.dims then
      if field.fields then
        -- an array of anonymous structs: each by the field list
        local list = {}
        for i = 0, field.dims[1] - 1 do
          list[i + 1] = plain_record(value[i], field.fields, raws)
        end
        object[field.name] = list
      else
        object[field.name] = plain_array(value, field.type, field.dims, 1, raws)
      end
    elseif field.fields then
      object[field.name] = plain_record(value, field.fields, raws)
    else
      object[field.name] = plain(value, raws)
    end
  end
  return object
end

local function plain_cdata(v, raws)
  if ffi.istype(int64_t, v) or ffi.istype(uint64_t, v) then
    return raw(raws, (tostring(v):gsub("U?LL$", "")))
  end
  local ctype = ffi.typeof(v)
  local name = tostring(ctype)
  if name:find("%*>$") and v == nil then
    return cjson.null
  end
  local fields = ctypes.fields(ctype)
  if fields then
    return plain_record(v, fields, raws)
  end
  local element, length = name:match("^ctype<([%w_ ]-) ?%[(%d+)%] ?&?>$")
  if element then
    return plain_array(v, element, {tonumber(length)}, 1, raws)
  end
  local n = tonumber(v)
  if n then
    return plain(n, raws)
  end
  errors.raise("cannot write a " .. name .. " as JSON")
end

plain = function(v, raws)
  local kind = type(v)
  if kind == "number" then
    if v % 1 == 0 and (v >= EXACT_LIMIT or v <= -EXACT_LIMIT) and v < 2 ^ 63 and v >= -2 ^ 63 then
      return raw(raws, string.format("%d", v))
    end
    return v
  elseif kind == "string" or kind == "boolean" then
    return v
  elseif kind == "nil" then
    return cjson.null
  elseif kind == "cdata" then
    return plain_cdata(v, raws)
  elseif kind == "table" then
    if getmetatable(v) == array_mt and #v == 0 then
      return raw(raws, "[]")
    end
    local copy = {}
    for k, each in pairs(v) do
      copy[k] = plain(each, raws)
    end
    return copy
  end
  errors.raise("cannot write a " .. kind .. " as JSON")
end

function M.encode(v)
  local json = load_cjson()
  local raws = {}
  local ok, text = pcall(json.encode, plain(v, raws))
  if not ok then
    errors.raise("cannot write JSON: " .. tostring(text))
  end
  if #raws == 0 then
    return text
  end
  return (text:gsub('"\\u0000bpflua%-json%-raw:(%d+)"', function(i)
    return raws[tonumber(i)]
  end))
end

return M
