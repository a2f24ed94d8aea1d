-- Types of a map that the kernel's map has no BTF for (queues, stacks, maps of maps: libbpf
-- creates them without BTF ids), read from the map's definition in the object's BTF: the
-- .maps variable named like the map is a struct whose members say its types
-- (`__type(value, T)` is a member `value` of type T *).
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local btf_types = require("bpflua.btf")

-- (struct bpflua_btf_member comes from bpflua.btf.)
pcall(ffi.cdef, "int32_t btf__find_by_name_kind(const struct btf *btf, const char *type_name, uint32_t kind);")

local M = {}

local KIND_PTR, KIND_STRUCT, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT, KIND_VAR =
  2, 4, 8, 9, 10, 11, 14
local member_ptr = ffi.typeof("const struct bpflua_btf_member *")

local function kind_of(t)
  return bit.band(bit.rshift(t.info, 24), 0x1f)
end

local function skip_modifiers(btf, id)
  local t = lib.btf__type_by_id(btf, id)
  while t ~= nil and (kind_of(t) == KIND_TYPEDEF or kind_of(t) == KIND_VOLATILE or
      kind_of(t) == KIND_CONST or kind_of(t) == KIND_RESTRICT) do
    id = t.size_or_type
    t = lib.btf__type_by_id(btf, id)
  end
  return id, t
end

-- The type id T of `__type(member, T)` in map_name's definition, or nil.
function M.member_type(owner, map_name, member)
  local btf = lib.bpf_object__btf(lib.bpflua_object_bpf(owner._handle))
  if btf == nil then
    return nil
  end
  local var = lib.btf__find_by_name_kind(btf, map_name, KIND_VAR)
  if var <= 0 then
    return nil
  end
  local _, def = skip_modifiers(btf, lib.btf__type_by_id(btf, var).size_or_type)
  if def == nil or kind_of(def) ~= KIND_STRUCT then
    return nil
  end
  local members = ffi.cast(member_ptr, def + 1)
  for i = 0, bit.band(def.info, 0xffff) - 1 do
    if ffi.string(lib.btf__name_by_offset(btf, members[i].name_off)) == member then
      local _, ptr = skip_modifiers(btf, members[i].type)
      if ptr ~= nil and kind_of(ptr) == KIND_PTR then
        return ptr.size_or_type, btf
      end
    end
  end
  return nil
end

-- The declaration of that type (as btf.declaration), or nil.
function M.member_declaration(owner, map_name, member)
  local id, btf = M.member_type(owner, map_name, member)
  if not id then
    return nil
  end
  return btf_types.declaration(btf, id)
end

return M
