-- bcc's load_func: a function of the program loaded as a program of a given type without
-- attaching it, for program arrays (tail calls) and for attach_*{fn = f}.
--   local f = b:load_func("stage1", BPF.TRACEPOINT)   -- f.fd, f.name, f.type
--   b["jump"][0] = f
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

-- The kernel's enum bpf_prog_type, under bcc's names (BPF.KPROBE, BPF.XDP, ...).
M.TYPES = {
  SOCKET_FILTER = 1, KPROBE = 2, SCHED_CLS = 3, SCHED_ACT = 4, TRACEPOINT = 5, XDP = 6,
  PERF_EVENT = 7, CGROUP_SKB = 8, CGROUP_SOCK = 9, LWT_IN = 10, LWT_OUT = 11, LWT_XMIT = 12,
  SOCK_OPS = 13, SK_SKB = 14, CGROUP_DEVICE = 15, SK_MSG = 16, RAW_TRACEPOINT = 17,
  CGROUP_SOCK_ADDR = 18, CGROUP_SYSCTL = 23, CGROUP_SOCKOPT = 25, TRACING = 26, LSM = 29,
}

local TYPE_NAMES = {}
for name, value in pairs(M.TYPES) do
  TYPE_NAMES[value] = name
end

-- The kernel's enum bpf_attach_type values that load_func picks for types that need one.
local ATTACH = {
  CGROUP_GETSOCKOPT = 21, TRACE_FENTRY = 24, TRACE_FEXIT = 25, LSM_MAC = 27,
}

local Function = {}
Function.__index = Function

function Function:__tostring()
  if self._handle == nil then
    return string.format("<BPF function %s (closed)>", self.name)
  end
  return string.format("<BPF function %s: %s, fd %d>", self.name, TYPE_NAMES[self.type] or self.type, self.fd)
end

-- Unloads the function (slots of program arrays that hold it keep the program alive in the
-- kernel until they are cleared).
function Function:close()
  if self._handle ~= nil then
    lib.bpflua_attachment_close(ffi.gc(self._handle, nil))
    self._handle = nil
    self.fd = -1
  end
end

-- What TRACING and LSM functions attach to, from bcc's names: kfunc__F, kretfunc__F, lsm__HOOK.
local function attach_point(name, prog_type)
  if prog_type == M.TYPES.TRACING then
    local target = name:match("^kfunc__(.+)$")
    if target then return ATTACH.TRACE_FENTRY, target end
    target = name:match("^kretfunc__(.+)$")
    if target then return ATTACH.TRACE_FEXIT, target end
    error("load_func: a TRACING function is named kfunc__FUNCTION or kretfunc__FUNCTION, not '" .. name .. "'", 4)
  elseif prog_type == M.TYPES.LSM then
    local target = name:match("^lsm__(.+)$")
    if target then return ATTACH.LSM_MAC, target end
    error("load_func: an LSM function is named lsm__HOOK, not '" .. name .. "'", 4)
  elseif prog_type == M.TYPES.CGROUP_SOCKOPT then
    return ATTACH.CGROUP_GETSOCKOPT, nil
  end
  return -1, nil
end

-- b:load_func(name, prog_type[, attach_type]): the function object, kept by b until cleanup
-- (or f:close()). Loading the same name and type again returns the same object.
function M.load_func(self, name, prog_type, attach_type)
  if self._handle == nil then
    error("BPF object was cleaned up", 3)
  end
  if type(name) ~= "string" then
    error("load_func: expected a function's name, as in load_func(\"f\", BPF.KPROBE)", 3)
  end
  if type(prog_type) ~= "number" or not TYPE_NAMES[prog_type] then
    error("load_func: expected a program type such as BPF.KPROBE, BPF.TRACEPOINT or BPF.XDP " ..
      "as the second argument", 3)
  end
  self._functions = self._functions or {}
  local key = name .. ":" .. prog_type
  local f = self._functions[key]
  if f and f._handle ~= nil then
    return f
  end
  local default_attach, target = attach_point(name, prog_type)
  local err = ffi.new("char *[1]")
  local handle = lib.bpflua_load_function(self._handle, name, prog_type, attach_type or default_attach,
    target, err)
  if handle == nil then
    local message = ffi.string(err[0])
    lib.bpflua_free(err[0])
    if message:find("needs root", 1, true) and lib.bpflua_check_privileges(err) == 0 and
        (prog_type == M.TYPES.TRACING or prog_type == M.TYPES.LSM) then
      -- Root, and still refused before the verifier spoke: the kernel does not allow the type.
      message = string.format("this kernel refuses %s programs (EPERM), as some do for fentry, " ..
        "fexit and LSM", TYPE_NAMES[prog_type])
    end
    error("load_func: " .. message, 3)
  end
  f = setmetatable({
    name = name, type = prog_type, fd = lib.bpflua_attachment_program_fd(handle),
    _handle = ffi.gc(handle, lib.bpflua_attachment_close), _owner = self,
  }, Function)
  self._functions[key] = f
  return f
end

-- Closes every loaded function (cleanup does this after detaching).
function M.close_all(self)
  for _, f in pairs(self._functions or {}) do
    f:close()
  end
  self._functions = nil
end

function M.is_function(v)
  return getmetatable(v) == Function
end

return M
