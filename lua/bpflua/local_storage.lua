-- BPF_TASK_STORAGE, BPF_INODE_STORAGE and BPF_SK_STORAGE's Lua side: the value the kernel
-- keeps with a task, an inode or a socket, reached from user space through a file
-- descriptor of the object (the kernel's key for these maps).
--   ts:get(pid), ts:set(pid, v), ts:delete(pid)        -- task storage: by pid (a pidfd)
--   is:get("/etc/hostname"), ...                       -- inode storage: by path (or fd)
--   ss:get(sock_fd), ...                               -- socket storage: by socket fd
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local ctypes = require("bpflua.ctypes")
local map_btf = require("bpflua.map_btf")

pcall(ffi.cdef, [[
long syscall(long number, ...);
int open(const char *path, int flags, ...);
int close(int fd);
]])

local SYS_PIDFD_OPEN = 434 -- the same number on every architecture
local O_RDONLY, O_CLOEXEC, ENOENT = 0, 0x80000, 2

local LocalStorage = {}
local methods = {}

function LocalStorage.new(owner, map)
  local name = ffi.string(lib.bpf_map__name(map))
  local decl, is_number = map_btf.member_declaration(owner, name, "value")
  if not decl then
    decl, is_number = "uint8_t[" .. lib.bpf_map__value_size(map) .. "]", false
  end
  local value_type = ctypes.define(decl)
  local kind = ffi.string(lib.libbpf_bpf_map_type_str(lib.bpf_map__type(map)))
  return setmetatable({
    _owner = owner, name = name, fd = lib.bpf_map__fd(map), type = kind,
    Leaf = value_type.value, _is_number = is_number,
    _Box = ffi.typeof(ctypes.array_of(value_type.name, 1)),
  }, LocalStorage)
end

local function errno_message()
  return ffi.string(lib.strerror(ffi.errno()))
end

-- An fd naming the object, and whether it must be closed after.
local function object_fd(self, object, what)
  if self._owner._handle == nil then
    error("table '" .. self.name .. "' belongs to a BPF object that was cleaned up", 3)
  end
  if self.type == "task_storage" then
    if type(object) ~= "number" then
      error(what .. ": expected a pid", 3)
    end
    local fd = tonumber(ffi.C.syscall(SYS_PIDFD_OPEN, ffi.cast("int", object), ffi.cast("unsigned int", 0)))
    if fd < 0 then
      error(string.format("%s: no process %d: %s", what, object, errno_message()), 3)
    end
    return fd, true
  elseif self.type == "inode_storage" and type(object) == "string" then
    local fd = ffi.C.open(object, O_RDONLY + O_CLOEXEC)
    if fd < 0 then
      error(string.format("%s: cannot open %s: %s", what, object, errno_message()), 3)
    end
    return fd, true
  elseif type(object) ~= "number" then
    error(what .. ": expected a file descriptor", 3)
  end
  return object, false
end

function methods:get(object)
  local fd, opened = object_fd(self, object, "get")
  local box = self._Box()
  local rc = lib.bpf_map_lookup_elem(self.fd, ffi.new("int[1]", fd), box)
  local err = ffi.errno()
  if opened then ffi.C.close(fd) end
  if rc ~= 0 then
    if err == ENOENT then
      return nil
    end
    error(string.format("get on table '%s' failed: %s", self.name, ffi.string(lib.strerror(err))), 2)
  end
  if self._is_number then
    return tonumber(box[0])
  end
  local copy = self.Leaf()
  ffi.copy(copy, box, ffi.sizeof(self.Leaf))
  return copy
end

function methods:set(object, value)
  local fd, opened = object_fd(self, object, "set")
  local box = self._Box()
  box[0] = type(value) == "table" and ffi.new(self.Leaf, value) or value
  local rc = lib.bpf_map_update_elem(self.fd, ffi.new("int[1]", fd), box, 0)
  local err = ffi.errno()
  if opened then ffi.C.close(fd) end
  if rc ~= 0 then
    error(string.format("set on table '%s' failed: %s", self.name, ffi.string(lib.strerror(err))), 2)
  end
end

function methods:delete(object)
  local fd, opened = object_fd(self, object, "delete")
  local rc = lib.bpf_map_delete_elem(self.fd, ffi.new("int[1]", fd))
  local err = ffi.errno()
  if opened then ffi.C.close(fd) end
  if rc ~= 0 and err ~= ENOENT then
    error(string.format("delete on table '%s' failed: %s", self.name, ffi.string(lib.strerror(err))), 2)
  end
end

LocalStorage.__index = methods

function LocalStorage:__tostring()
  return string.format("<%s %s: %s>", self.type, self.name, (tostring(self.Leaf):gsub("^ctype<(.*)>$", "%1")))
end

LocalStorage.__methods = methods

return LocalStorage
