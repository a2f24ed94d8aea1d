-- FFI types made from C declarations that bpflua writes: the events a ring buffer carries
-- (laid out by the compiler, runtime/event_types.cpp, and checked against its sizes and
-- offsets) and the keys and values of tables (from BTF, bpflua/btf.lua).
local ffi = require("ffi")

local M = {}

-- One named FFI struct per distinct declaration, shared by every object that uses it:
-- ffi.cdef cannot define a name twice, and a name lets the pointer and value types agree.
local by_declaration = {}

-- An FNV-1a-style hash of the declaration's bytes (deterministic; only names depend on it).
local function hash(text)
  local h = 0x811c9dc5
  for i = 1, #text do
    h = bit.bxor(h, text:byte(i))
    h = bit.tobit(h * 0x01000193)
  end
  return bit.band(h, 0x7fffffff)
end

-- Returns {name =, value =, pointer =} for a declaration: a record gets a name of its own,
-- anything else is named by its declaration ("uint64_t", "char[16]").
function M.define(decl)
  local known = by_declaration[decl]
  if known then
    return known
  end
  local kind = decl:match("^(struct)%s") or decl:match("^(union)%s")
  local name, value, pointer
  if kind then
    -- The tag is made from the declaration, so that a module loaded afresh into the same
    -- Lua state (busted does that between spec files) finds the type it defined before.
    name = string.format("%s bpflua_type_%08x_%d", kind, hash(decl), #decl)
    if not pcall(ffi.typeof, name) then
      -- The tag goes after any attributes: "struct __attribute__((packed)) TAG { ... }".
      local brace = decl:find("{", 1, true)
      ffi.cdef(decl:sub(1, brace - 1) .. name:sub(#kind + 2) .. " " .. decl:sub(brace) .. ";")
    end
    value, pointer = ffi.typeof(name), ffi.typeof(name .. " *")
  else
    name = decl
    value = ffi.typeof(decl)
    pointer = ffi.typeof(decl:find("%[") and decl:gsub("%[", "(*)[", 1) or decl .. " *")
  end
  known = {name = name, value = value, pointer = pointer}
  by_declaration[decl] = known
  return known
end

-- The name of an array of n elements of the named type: "uint8_t[40]" gives
-- "uint8_t[1][40]". Types are built from names, not with ffi.typeof("$[1]", T): busted
-- replaces ffi.typeof with a version that caches by the first argument alone, which makes
-- every "$[1]" the same type.
function M.array_of(name, n)
  local base, dims = name:match("^([^%[]*)(.*)$")
  return base .. "[" .. n .. "]" .. dims
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
function M.event_ctypes(ring_name, info)
  local t = M.define(info.decl)
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
