-- FFI types for values described by a BPF object's BTF: a map's key and value types.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

local KIND_INT, KIND_PTR, KIND_ARRAY, KIND_ENUM = 1, 2, 3, 6
local KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG = 8, 9, 10, 11, 18
local KIND_ENUM64 = 19
local INT_SIGNED, INT_BOOL = 1, 4

local qualifier_kinds = {
  [KIND_TYPEDEF] = true, [KIND_VOLATILE] = true, [KIND_CONST] = true,
  [KIND_RESTRICT] = true, [KIND_TYPE_TAG] = true,
}

local btf_array_ptr = ffi.typeof("const struct btf_array *")
local uint32_ptr = ffi.typeof("const uint32_t *")

local function kind_of(t)
  return bit.band(bit.rshift(t.info, 24), 0x1f)
end

-- The C name of an integer of this size and signedness.
local function int_name(size, signed)
  return (signed and "int" or "uint") .. (size * 8) .. "_t"
end

-- Returns a C type name that ffi.typeof accepts for BTF type id, and whether values of it
-- read best as Lua numbers.
function M.type_name(btf, id)
  local t = lib.btf__type_by_id(btf, id)
  while t ~= nil and qualifier_kinds[kind_of(t)] do
    id = t.size_or_type
    t = lib.btf__type_by_id(btf, id)
  end
  if t == nil then
    return "uint8_t", true
  end
  local kind = kind_of(t)
  if kind == KIND_INT then
    local encoding = ffi.cast(uint32_ptr, t + 1)[0]
    local size = t.size_or_type
    if bit.band(bit.rshift(encoding, 24), INT_BOOL) ~= 0 then
      return "bool", false
    end
    if size == 1 or size == 2 or size == 4 or size == 8 then
      return int_name(size, bit.band(bit.rshift(encoding, 24), INT_SIGNED) ~= 0), true
    end
  elseif kind == KIND_ENUM or kind == KIND_ENUM64 then
    return int_name(t.size_or_type, true), true
  elseif kind == KIND_PTR then
    return "uint64_t", true
  elseif kind == KIND_ARRAY then
    local a = ffi.cast(btf_array_ptr, t + 1)
    local elem = M.type_name(btf, a.type)
    return elem .. "[" .. a.nelems .. "]", false
  end
  local size = tonumber(lib.btf__resolve_size(btf, id))
  return "uint8_t[" .. math.max(size, 1) .. "]", false
end

-- The name of an array of n elements of the named type: "uint8_t[40]" gives
-- "uint8_t[1][40]". Types are built from names, not with ffi.typeof("$[1]", T): busted
-- replaces ffi.typeof with a version that caches by the first argument alone, which makes
-- every "$[1]" the same type.
function M.array_of(name, n)
  local base, dims = name:match("^([^%[]*)(.*)$")
  return base .. "[" .. n .. "]" .. dims
end

return M
