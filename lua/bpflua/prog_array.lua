-- BPF_PROG_ARRAY's Lua side, as bcc's ProgArray: slots hold functions from b:load_func.
--   local jump = b["jump"]
--   jump[0] = b:load_func("stage1", BPF.TRACEPOINT)   -- or jump:set(0, f)
--   jump[0] = nil                                      -- or jump:delete(0)
-- Reading a slot gives the program's kernel id (0 when empty); the map holds file
-- descriptors only on the way in.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local functions = require("bpflua.functions")

local ProgArray = {}
local methods = {}

local u32_box = ffi.typeof("uint32_t[1]")

function ProgArray.new(owner, map)
  return setmetatable({
    _owner = owner, _map = map, name = ffi.string(lib.bpf_map__name(map)),
    _fd = lib.bpf_map__fd(map), _size = lib.bpf_map__max_entries(map), _slots = {},
  }, ProgArray)
end

local function check_index(self, index, what)
  if type(index) ~= "number" or index < 0 or index >= self._size or index % 1 ~= 0 then
    error(string.format("%s: index must be an integer from 0 to %d", what, self._size - 1), 3)
  end
  if self._owner._handle == nil then
    error("BPF object was cleaned up", 3)
  end
end

local function errno_message()
  return ffi.string(lib.strerror(ffi.errno()))
end

-- t:set(index, f): f from load_func (or a program fd).
function methods:set(index, f)
  check_index(self, index, "set")
  local fd = f
  if functions.is_function(f) then
    if f._handle == nil then
      error("set: the function " .. f.name .. " was closed", 2)
    end
    fd = f.fd
  elseif type(f) ~= "number" then
    error("set: expected a function from load_func (or a program's fd)", 2)
  end
  local key, value = u32_box(index), u32_box(fd)
  if lib.bpf_map_update_elem(self._fd, key, value, 0) ~= 0 then
    error(string.format("set: cannot put %s in %s[%d]: %s", functions.is_function(f) and f.name or ("fd " .. fd),
      self.name, index, errno_message()), 2)
  end
  self._slots[index] = f -- keeps the function (and its fd) alive while it is in the array
end

function methods:delete(index)
  check_index(self, index, "delete")
  if lib.bpf_map_delete_elem(self._fd, u32_box(index)) ~= 0 and ffi.errno() ~= 2 then
    error(string.format("delete: %s[%d]: %s", self.name, index, errno_message()), 2)
  end
  self._slots[index] = nil
end

-- The program's kernel id at index, or nil when the slot is empty.
function methods:get(index)
  check_index(self, index, "get")
  local value = u32_box()
  if lib.bpf_map_lookup_elem(self._fd, u32_box(index), value) ~= 0 then
    return nil
  end
  return value[0]
end

-- The function put at index from this process, or nil.
function methods:function_at(index)
  return self._slots[index]
end

function methods:clear()
  for index = 0, self._size - 1 do
    lib.bpf_map_delete_elem(self._fd, u32_box(index))
  end
  self._slots = {}
end

ProgArray.__index = function(self, key)
  if type(key) == "number" then
    return methods.get(self, key)
  end
  return methods[key]
end

ProgArray.__newindex = function(self, key, value)
  if type(key) ~= "number" then
    error("a program array's slots are numbers: t[0] = b:load_func(...)", 2)
  end
  if value == nil then
    methods.delete(self, key)
  else
    methods.set(self, key, value)
  end
end

function ProgArray:__tostring()
  local used = 0
  for _ in pairs(self._slots) do
    used = used + 1
  end
  return string.format("<BPF_PROG_ARRAY %s: %d slots, %d set from here>", self.name, self._size, used)
end

ProgArray.__methods = methods

return ProgArray
