-- FFI types for the events a ring buffer carries, from the layout the compiler found
-- (runtime/event_types.cpp), checked against the compiler's sizes and offsets.
local ffi = require("ffi")

local M = {}

-- One named FFI struct per distinct declaration, shared by every object that uses it:
-- ffi.cdef cannot define a name twice, and a name lets the pointer and value types agree.
local by_declaration = {}
local count = 0

local function define(decl)
  local known = by_declaration[decl]
  if known then
    return known
  end
  local kind = decl:match("^(struct)%s") or decl:match("^(union)%s")
  local value, pointer
  if kind then
    count = count + 1
    local name = string.format("%s bpflua_event_%d", kind, count)
    ffi.cdef(name .. decl:sub(#kind + 1) .. ";")
    value, pointer = ffi.typeof(name), ffi.typeof(name .. " *")
  else
    value = ffi.typeof(decl)
    pointer = ffi.typeof(decl:find("%[") and decl:gsub("%[", "(*)[", 1) or decl .. " *")
  end
  known = {value = value, pointer = pointer}
  by_declaration[decl] = known
  return known
end

-- Parses the metadata lines "event\tRING\tSIZE\tTYPE\tDECL" and "field\tRING\tNAME\tOFFSET"
-- into {[ring] = {size =, type_name =, decl =, fields = {{name, offset}...}}}.
function M.parse(metadata)
  local rings = {}
  for line in metadata:gmatch("[^\n]+") do
    local parts = {}
    for part in (line .. "\t"):gmatch("([^\t]*)\t") do
      parts[#parts + 1] = part
    end
    if parts[1] == "event" then
      rings[parts[2]] = {size = tonumber(parts[3]), type_name = parts[4], decl = parts[5], fields = {}}
    elseif parts[1] == "field" and rings[parts[2]] then
      local fields = rings[parts[2]].fields
      fields[#fields + 1] = {parts[3], tonumber(parts[4])}
    end
  end
  return rings
end

-- The value and pointer ctypes for a ring's event; errors if the FFI would lay it out
-- differently from the BPF compiler.
function M.ctypes(ring_name, info)
  local t = define(info.decl)
  local size = ffi.sizeof(t.value)
  if size ~= info.size then
    error(string.format("bpflua: the FFI lays out %s (events of ring '%s') in %d bytes, the " ..
      "BPF compiler in %d; cast the data yourself with a matching ffi.cdef", info.type_name,
      ring_name, size, info.size), 0)
  end
  for _, field in ipairs(info.fields) do
    local offset = ffi.offsetof(t.value, field[1])
    if offset ~= field[2] then
      error(string.format("bpflua: the FFI puts %s.%s (events of ring '%s') at offset %s, " ..
        "the BPF compiler at %d", info.type_name, field[1], ring_name, tostring(offset),
        field[2]), 0)
    end
  end
  return t.value, t.pointer
end

return M
