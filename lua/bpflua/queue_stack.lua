-- BPF_QUEUE and BPF_STACK's Lua side, as bcc's QueueStack: values without keys.
--   q:push(v[, flags])   -- flags BPF_EXIST (2) replaces the oldest value when full
--   q:pop(), q:peek()    -- the next value, or nil when empty
--   for v in q:values() do ... end   -- pops every value
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local ctypes = require("bpflua.ctypes")
local map_btf = require("bpflua.map_btf")

pcall(ffi.cdef, "int bpf_map_lookup_and_delete_elem(int fd, const void *key, void *value);")

local QueueStack = {}
QueueStack.__index = QueueStack

local ENOENT = 2

function QueueStack.new(owner, map)
  local name = ffi.string(lib.bpf_map__name(map))
  local decl, is_number = map_btf.member_declaration(owner, name, "value")
  if not decl then
    decl, is_number = "uint8_t[" .. lib.bpf_map__value_size(map) .. "]", false
  end
  local value_type = ctypes.define(decl)
  return setmetatable({
    _owner = owner, name = name, fd = lib.bpf_map__fd(map),
    type = ffi.string(lib.libbpf_bpf_map_type_str(lib.bpf_map__type(map))),
    max_entries = lib.bpf_map__max_entries(map),
    Leaf = value_type.value, _is_number = is_number,
    _Box = ffi.typeof(ctypes.array_of(value_type.name, 1)),
  }, QueueStack)
end

local function check_open(self)
  if self._owner._handle == nil then
    error("table '" .. self.name .. "' belongs to a BPF object that was cleaned up", 3)
  end
end

local function failure(self, what)
  return string.format("%s on table '%s' failed: %s", what, self.name, ffi.string(lib.strerror(ffi.errno())))
end

function QueueStack:push(value, flags)
  check_open(self)
  local box = self._Box()
  box[0] = type(value) == "table" and ffi.new(self.Leaf, value) or value
  if lib.bpf_map_update_elem(self.fd, nil, box, flags or 0) ~= 0 then
    error(failure(self, "push"), 2)
  end
end

local function take(self, remove, what)
  check_open(self)
  local box = self._Box()
  local rc = remove and lib.bpf_map_lookup_and_delete_elem(self.fd, nil, box) or
    lib.bpf_map_lookup_elem(self.fd, nil, box)
  if rc ~= 0 then
    if ffi.errno() == ENOENT then
      return nil
    end
    error(failure(self, what), 3)
  end
  if self._is_number then
    return tonumber(box[0])
  end
  local copy = self.Leaf()
  ffi.copy(copy, box, ffi.sizeof(self.Leaf))
  return copy
end

function QueueStack:pop() return take(self, true, "pop") end
function QueueStack:peek() return take(self, false, "peek") end

-- An iterator that pops each value in turn (queues and stacks cannot be read in place).
function QueueStack:values()
  return function() return take(self, true, "pop") end
end

function QueueStack:clear()
  while take(self, true, "pop") ~= nil do end
end

function QueueStack:__tostring()
  return string.format("<%s %s: %s, at most %d>", self.type == "queue" and "BPF_QUEUE" or "BPF_STACK",
    self.name, (tostring(self.Leaf):gsub("^ctype<(.*)>$", "%1")), self.max_entries)
end

return QueueStack
