-- Lua objects for BPF maps: b["name"]. Keys and values are FFI types taken from the
-- object's BTF; integer values come back as Lua numbers.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local btf_types = require("bpflua.btf")

local ENOENT = 2
local BPF_ANY = 0

local map_type_names = {
  [1] = "hash", [2] = "array", [5] = "percpu_hash", [6] = "percpu_array",
  [9] = "lru_hash", [10] = "lru_percpu_hash", [27] = "ringbuf",
}

local Table = {}
Table.__index = Table

local function errno_message(what, name)
  local err = ffi.errno()
  return string.format("%s on table '%s' failed: %s", what, name, ffi.string(ffi.C.strerror(err)))
end


function Table.new(owner, map)
  local btf = lib.bpf_object__btf(lib.bpflua_object_bpf(owner._handle))
  local key_name, key_is_number = "uint32_t", true
  local value_name, value_is_number = "uint8_t[" .. lib.bpf_map__value_size(map) .. "]", false
  if btf ~= nil and lib.bpf_map__btf_value_type_id(map) ~= 0 then
    key_name, key_is_number = btf_types.type_name(btf, lib.bpf_map__btf_key_type_id(map))
    value_name, value_is_number = btf_types.type_name(btf, lib.bpf_map__btf_value_type_id(map))
  end
  local self = setmetatable({
    _owner = owner,
    name = ffi.string(lib.bpf_map__name(map)),
    fd = lib.bpf_map__fd(map),
    type = map_type_names[lib.bpf_map__type(map)] or tostring(lib.bpf_map__type(map)),
    max_entries = lib.bpf_map__max_entries(map),
    Key = ffi.typeof(key_name),
    Leaf = ffi.typeof(value_name),
    _key_is_number = key_is_number,
    _value_is_number = value_is_number,
  }, Table)
  self._KeyBox = ffi.typeof(btf_types.array_of(key_name, 1))
  self._LeafBox = ffi.typeof(btf_types.array_of(value_name, 1))
  self._key = self._KeyBox()
  self._value = self._LeafBox()
  self._value_in = self._LeafBox()
  return self
end

function Table:_check_open()
  if self._owner._handle == nil then
    error("table '" .. self.name .. "' belongs to a BPF object that was cleaned up", 3)
  end
end

-- Accepts a Lua number, or cdata of the key type.
function Table:_key_of(key)
  if type(key) == "number" then
    self._key[0] = key
    return self._key
  end
  return ffi.new(self.Key, key)
end

function Table:_value_out(value)
  if self._value_is_number then
    return tonumber(value[0])
  end
  return ffi.new(self.Leaf, value[0])
end

-- The value at key, or nil when the table has none there.
function Table:get(key)
  self:_check_open()
  local rc = lib.bpf_map_lookup_elem(self.fd, self:_key_of(key), self._value)
  if rc ~= 0 then
    if ffi.errno() == ENOENT then
      return nil
    end
    error(errno_message("get", self.name), 2)
  end
  return self:_value_out(self._value)
end

function Table:set(key, value)
  self:_check_open()
  self._value_in[0] = value
  if lib.bpf_map_update_elem(self.fd, self:_key_of(key), self._value_in, BPF_ANY) ~= 0 then
    error(errno_message("set", self.name), 2)
  end
end

-- Returns true when there was an entry to delete.
function Table:delete(key)
  self:_check_open()
  if lib.bpf_map_delete_elem(self.fd, self:_key_of(key)) ~= 0 then
    if ffi.errno() == ENOENT then
      return false
    end
    error(errno_message("delete", self.name), 2)
  end
  return true
end

-- for key, value in t:items() do ... end, keys as given by the kernel's iteration order.
function Table:items()
  self:_check_open()
  local key = self._KeyBox()
  local value = self._LeafBox()
  local first = true
  return function()
    while true do
      local prev = not first and key or nil
      first = false
      if lib.bpf_map_get_next_key(self.fd, prev, key) ~= 0 then
        return nil
      end
      if lib.bpf_map_lookup_elem(self.fd, key, value) == 0 then
        local k = self._key_is_number and tonumber(key[0]) or ffi.new(self.Key, key[0])
        return k, self:_value_out(value)
      end
    end
  end
end

-- Deletes every entry (for arrays, which cannot lose entries, use set).
function Table:clear()
  self:_check_open()
  local key = self._KeyBox()
  while lib.bpf_map_get_next_key(self.fd, nil, key) == 0 do
    if lib.bpf_map_delete_elem(self.fd, key) ~= 0 then
      error(errno_message("clear", self.name), 2)
    end
  end
end

function Table:__tostring()
  return string.format("<BPF %s table '%s': key %s, value %s, %d entries max>", self.type,
    self.name, tostring(self.Key):match("<(.-)>") or "?", tostring(self.Leaf):match("<(.-)>") or "?",
    self.max_entries)
end

return Table
