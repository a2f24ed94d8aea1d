-- BPF_ARRAY_OF_MAPS and BPF_HASH_OF_MAPS's Lua side, as bcc's MapInMapArray/MapInMapHash:
-- slots hold tables shaped like the inner table named in the declaration.
--   outer[0] = b["inner"]        -- or outer:set(0, b["inner"]); outer[0] = nil deletes
--   outer[0]                     -- the inner map's kernel id, or nil
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local map_btf = require("bpflua.map_btf")
local ctypes = require("bpflua.ctypes")

pcall(ffi.cdef, [[
struct bpflua_map_info_prefix { uint32_t type; uint32_t id; uint32_t key_size; uint32_t value_size; };
int bpf_obj_get_info_by_fd(int bpf_fd, void *info, uint32_t *info_len);
]])

local MapOfMaps = {}
local methods = {}

function MapOfMaps.new(owner, map)
  local name = ffi.string(lib.bpf_map__name(map))
  local decl = map_btf.member_declaration(owner, name, "key") or ("uint8_t[" .. lib.bpf_map__key_size(map) .. "]")
  local key_type = ctypes.define(decl)
  return setmetatable({
    _owner = owner, _name = name, _fd = lib.bpf_map__fd(map),
    _type = ffi.string(lib.libbpf_bpf_map_type_str(lib.bpf_map__type(map))),
    _Key = key_type.value, _KeyBox = ffi.typeof(ctypes.array_of(key_type.name, 1)), _inner = {},
  }, MapOfMaps)
end

local function key_of(self, key)
  local box = self._KeyBox()
  box[0] = type(key) == "table" and ffi.new(self._Key, key) or key
  return box
end

local function check_open(self)
  if self._owner._handle == nil then
    error("table '" .. self._name .. "' belongs to a BPF object that was cleaned up", 3)
  end
end

local function failure(self, what, key)
  return string.format("%s: %s[%s]: %s", what, self._name, tostring(key), ffi.string(lib.strerror(ffi.errno())))
end

-- t:set(key, inner): inner is a table of a BPF object (any whose maps fit the declaration).
function methods:set(key, inner)
  check_open(self)
  local fd = type(inner) == "table" and (inner.fd or inner._fd)
  if type(fd) ~= "number" then
    error("set: expected a table, as in outer[0] = b[\"inner\"]", 2)
  end
  if lib.bpf_map_update_elem(self._fd, key_of(self, key), ffi.new("uint32_t[1]", fd), 0) ~= 0 then
    error(failure(self, "set", key), 2)
  end
  self._inner[key] = inner
end

function methods:delete(key)
  check_open(self)
  if lib.bpf_map_delete_elem(self._fd, key_of(self, key)) ~= 0 and ffi.errno() ~= 2 then
    error(failure(self, "delete", key), 2)
  end
  self._inner[key] = nil
end

-- The kernel id of the map at key, or nil.
function methods:get(key)
  check_open(self)
  local id = ffi.new("uint32_t[1]")
  if lib.bpf_map_lookup_elem(self._fd, key_of(self, key), id) ~= 0 then
    return nil
  end
  return id[0]
end

-- The table set at key from this process, or nil.
function methods:table_at(key)
  return self._inner[key]
end

MapOfMaps.__index = function(self, key)
  if type(key) == "string" then
    return methods[key]
  end
  return methods.get(self, key)
end

MapOfMaps.__newindex = function(self, key, value)
  if value == nil then
    methods.delete(self, key)
  else
    methods.set(self, key, value)
  end
end

function MapOfMaps:__tostring()
  return string.format("<%s %s>", self._type == "array_of_maps" and "BPF_ARRAY_OF_MAPS" or "BPF_HASH_OF_MAPS", self._name)
end

MapOfMaps.__methods = methods

return MapOfMaps
