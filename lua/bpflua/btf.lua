-- C declarations, for the FFI, of the types a BPF object's BTF describes: the keys and values
-- of its tables. Records are written packed, with explicit padding at the offsets BTF gives,
-- so the FFI's layout is the kernel's whatever the alignment rules.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

local KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION, KIND_ENUM = 1, 2, 3, 4, 5, 6
local KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_TYPE_TAG = 8, 9, 10, 11, 18
local KIND_ENUM64 = 19
local INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4

local qualifier_kinds = {
  [KIND_TYPEDEF] = true, [KIND_VOLATILE] = true, [KIND_CONST] = true,
  [KIND_RESTRICT] = true, [KIND_TYPE_TAG] = true,
}

ffi.cdef[[
struct bpflua_btf_member { uint32_t name_off; uint32_t type; uint32_t offset; };
]]
local btf_array_ptr = ffi.typeof("const struct btf_array *")
local btf_member_ptr = ffi.typeof("const struct bpflua_btf_member *")
local uint32_ptr = ffi.typeof("const uint32_t *")

local function kind_of(t)
  return bit.band(bit.rshift(t.info, 24), 0x1f)
end

local function resolve(btf, id)
  local t = lib.btf__type_by_id(btf, id)
  while t ~= nil and qualifier_kinds[kind_of(t)] do
    id = t.size_or_type
    t = lib.btf__type_by_id(btf, id)
  end
  return t, id
end

local function int_name(size, signed)
  return (signed and "int" or "uint") .. (size * 8) .. "_t"
end

local function bytes(size, name)
  return "uint8_t " .. name .. "[" .. math.max(size, 1) .. "]"
end

-- A declaration of `name` with BTF type id; returns it and whether values of the type read
-- best as Lua numbers.
local function declare(btf, id, name)
  local t
  t, id = resolve(btf, id)
  local spaced = name == "" and "" or " " .. name
  if t == nil then
    return bytes(1, name), false
  end
  local kind = kind_of(t)
  if kind == KIND_INT then
    local encoding = bit.rshift(ffi.cast(uint32_ptr, t + 1)[0], 24)
    local size = t.size_or_type
    if bit.band(encoding, INT_BOOL) ~= 0 then
      return "bool" .. spaced, false
    end
    -- Clang writes char as a signed byte without BTF's char encoding; its name says it.
    local is_char = bit.band(encoding, INT_CHAR) ~= 0 or
      ffi.string(lib.btf__name_by_offset(btf, t.name_off)) == "char"
    if is_char and size == 1 then
      return "char" .. spaced, false -- so that char arrays read as text with ffi.string
    end
    if size == 1 or size == 2 or size == 4 or size == 8 then
      return int_name(size, bit.band(encoding, INT_SIGNED) ~= 0) .. spaced, true
    end
  elseif kind == KIND_ENUM or kind == KIND_ENUM64 then
    return int_name(t.size_or_type, true) .. spaced, true
  elseif kind == KIND_PTR then
    return "uint64_t" .. spaced, true -- kernel addresses mean nothing to Lua as pointers
  elseif kind == KIND_ARRAY then
    local a = ffi.cast(btf_array_ptr, t + 1)
    return (declare(btf, a.type, name .. "[" .. a.nelems .. "]")), false
  elseif kind == KIND_STRUCT or kind == KIND_UNION then
    return M.record(btf, t, kind == KIND_UNION) .. spaced, false
  end
  return bytes(tonumber(lib.btf__resolve_size(btf, id)), name), false
end

-- A packed struct or union whose members sit at BTF's byte offsets. Bitfields are left as
-- padding: the FFI cannot place them at BTF's bit offsets.
function M.record(btf, t, is_union)
  local size = t.size_or_type
  local vlen = bit.band(t.info, 0xffff)
  local bitfield_offsets = bit.rshift(t.info, 31) == 1
  local members = ffi.cast(btf_member_ptr, t + 1)
  local parts, at = {}, 0
  for i = 0, vlen - 1 do
    local m = members[i]
    local bit_offset = bitfield_offsets and bit.band(m.offset, 0xffffff) or m.offset
    local bitfield_size = bitfield_offsets and bit.rshift(m.offset, 24) or 0
    local offset = math.floor(bit_offset / 8)
    if bitfield_size == 0 and bit_offset % 8 == 0 and (is_union or offset >= at) then
      if not is_union and offset > at then
        parts[#parts + 1] = bytes(offset - at, "__pad_" .. at) .. ";"
      end
      local member_name = ffi.string(lib.btf__name_by_offset(btf, m.name_off))
      parts[#parts + 1] = (declare(btf, m.type, member_name)) .. ";"
      local member_size = tonumber(lib.btf__resolve_size(btf, m.type))
      if not is_union then
        at = offset + member_size
      end
    end
  end
  if is_union then
    parts[#parts + 1] = bytes(size, "__size") .. ";" -- the union is as large as BTF says
  elseif at < size then
    parts[#parts + 1] = bytes(size - at, "__pad_" .. at) .. ";"
  end
  return (is_union and "union" or "struct") .. " __attribute__((packed)) { " ..
    table.concat(parts, " ") .. " }"
end

-- The names of a record type's members in order (empty for other types).
function M.field_names(btf, id)
  local t = resolve(btf, id)
  local names = {}
  if t ~= nil and (kind_of(t) == KIND_STRUCT or kind_of(t) == KIND_UNION) then
    local members = ffi.cast(btf_member_ptr, t + 1)
    for i = 0, bit.band(t.info, 0xffff) - 1 do
      local name = ffi.string(lib.btf__name_by_offset(btf, members[i].name_off))
      if name ~= "" then
        names[#names + 1] = name
      end
    end
  end
  return names
end

-- The name a type id has as a typedef ("" for a type that is not a typedef).
function M.typedef_name(btf, id)
  local t = lib.btf__type_by_id(btf, id)
  if t == nil or kind_of(t) ~= KIND_TYPEDEF then
    return ""
  end
  return ffi.string(lib.btf__name_by_offset(btf, t.name_off))
end

-- The declaration of a type by id, without a name ("uint32_t", "char[16]", "struct {...}"),
-- and whether its values read best as Lua numbers.
function M.declaration(btf, id)
  return declare(btf, id, "")
end

return M
