-- BPF_CGROUP_ARRAY's Lua side, as bcc's CgroupArray: slots set from cgroup paths.
--   cg[0] = "/sys/fs/cgroup/my.slice"     -- or cg:set(0, path); cg[0] = nil deletes
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

pcall(ffi.cdef, [[
int open(const char *path, int flags, ...);
int close(int fd);
]])

local O_RDONLY, O_DIRECTORY, O_CLOEXEC = 0, 0x10000, 0x80000

local CgroupArray = {}
local methods = {}

function CgroupArray.new(owner, map)
  return setmetatable({
    _owner = owner, _name = ffi.string(lib.bpf_map__name(map)), _fd = lib.bpf_map__fd(map),
    _size = lib.bpf_map__max_entries(map), _paths = {},
  }, CgroupArray)
end

local function check(self, index, what)
  if self._owner._handle == nil then
    error("table '" .. self._name .. "' belongs to a BPF object that was cleaned up", 3)
  end
  if type(index) ~= "number" or index < 0 or index >= self._size or index % 1 ~= 0 then
    error(string.format("%s: index must be an integer from 0 to %d", what, self._size - 1), 3)
  end
end

local function errno_message()
  return ffi.string(lib.strerror(ffi.errno()))
end

-- cg:set(index, path): the cgroup directory at path (cgroup v2), or an open fd of one.
function methods:set(index, path)
  check(self, index, "set")
  local fd, opened = path, false
  if type(path) == "string" then
    fd = ffi.C.open(path, O_RDONLY + O_DIRECTORY + O_CLOEXEC)
    if fd < 0 then
      error(string.format("set: cannot open cgroup %s: %s", path, errno_message()), 2)
    end
    opened = true
  elseif type(path) ~= "number" then
    error("set: expected a cgroup's path (or an fd of its directory)", 2)
  end
  local rc = lib.bpf_map_update_elem(self._fd, ffi.new("uint32_t[1]", index), ffi.new("uint32_t[1]", fd), 0)
  local message = rc ~= 0 and errno_message()
  if opened then
    ffi.C.close(fd)
  end
  if rc ~= 0 then
    error(string.format("set: cannot put %s in %s[%d]: %s", tostring(path), self._name, index, message), 2)
  end
  self._paths[index] = path
end

function methods:delete(index)
  check(self, index, "delete")
  if lib.bpf_map_delete_elem(self._fd, ffi.new("uint32_t[1]", index)) ~= 0 and ffi.errno() ~= 2 then
    error(string.format("delete: %s[%d]: %s", self._name, index, errno_message()), 2)
  end
  self._paths[index] = nil
end

-- The path set at index from this process, or nil (the kernel does not give it back).
function methods:get(index)
  check(self, index, "get")
  return self._paths[index]
end

CgroupArray.__index = function(self, key)
  if type(key) == "number" then
    return methods.get(self, key)
  end
  return methods[key]
end

CgroupArray.__newindex = function(self, key, value)
  if value == nil then
    methods.delete(self, key)
  else
    methods.set(self, key, value)
  end
end

function CgroupArray:__tostring()
  return string.format("<BPF_CGROUP_ARRAY %s: %d slots>", self._name, self._size)
end

CgroupArray.__methods = methods

return CgroupArray
