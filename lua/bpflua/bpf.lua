-- The BPF class: what `require("bpflua")` returns.
--
--   local b = BPF{text = src, cflags = {"-DN=3"}, debug = false}
--   local b = BPF{src_file = "prog.c"}      -- relative to the calling script
--   b["counts"]:get(0)                      -- tables by name (also b:get_table("counts"))
--   b:cleanup()                             -- or let the garbage collector do it
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local config = require("bpflua.config")
local Table = require("bpflua.table")
local ringbuf = require("bpflua.ringbuf")
local perfbuf = require("bpflua.perfbuf")
local StackTrace = require("bpflua.stack_trace")
local symbols = require("bpflua.symbols")
local ctypes = require("bpflua.ctypes")
local attach = require("bpflua.attach")
local trace_pipe = require("bpflua.trace_pipe")
local usdt = require("bpflua.usdt")
local functions = require("bpflua.functions")
local more_tables = require("bpflua.more_tables")

local BPF = {}

local object_methods = {}
local object_mt = {}

local char_ptr_ptr = ffi.typeof("char *[1]")

-- Raises err (a malloc'd C string from libbpflua) as a Lua error, after freeing it. The
-- message carries its own position (line:col in the BPF C), so no Lua position is added.
local function raise_c_error(err, prefix)
  local message = err[0] ~= nil and ffi.string(err[0]) or "unknown error"
  lib.bpflua_free(err[0])
  error((prefix or "") .. message, 0)
end

-- The directory of the script that called into bpflua, for src_file paths.
local function caller_dir()
  for level = 3, 20 do
    local info = debug.getinfo(level, "S")
    if not info then
      break
    end
    local source = info.source
    if source:sub(1, 1) == "@" and not source:find("/bpflua/bpf.lua", 1, true) then
      return source:sub(2):match("^(.*)/[^/]*$") or "."
    end
  end
  return "."
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then
    error("BPF: cannot read src_file: " .. err, 4)
  end
  local text = f:read("*a")
  f:close()
  return text
end

local function check_options(opts)
  if type(opts) ~= "table" then
    error("BPF: expected a table of options, as in BPF{text = src}", 3)
  end
  local known = {text = true, src_file = true, cflags = true, debug = true, usdt_contexts = true}
  for k in pairs(opts) do
    if not known[k] then
      error("BPF: unknown option '" .. tostring(k) .. "' (options: text, src_file, cflags, debug, usdt_contexts)", 3)
    end
  end
  if opts.usdt_contexts ~= nil and type(opts.usdt_contexts) ~= "table" then
    error("BPF: usdt_contexts must be a table of USDT objects, as in {u}", 3)
  end
  if (opts.text == nil) == (opts.src_file == nil) then
    error("BPF: give the program as text = \"...\" or src_file = \"path\" (one of them)", 3)
  end
  if opts.cflags ~= nil and type(opts.cflags) ~= "table" then
    error("BPF: cflags must be a table of strings, as in {\"-DN=3\"}", 3)
  end
end

local function compile(source, name, cflags, debug)
  local flags = cflags or {}
  local c_flags = ffi.new("const char *[?]", #flags + 1)
  for i, f in ipairs(flags) do
    c_flags[i - 1] = tostring(f)
  end
  local opts = ffi.new("struct bpflua_compile_opts", {
    source = source, source_len = #source, source_name = name,
    cflags = c_flags, ncflags = #flags, debug = debug and 1 or 0,
  })
  local err = char_ptr_ptr()
  local compiled = lib.bpflua_compile(opts, err)
  if compiled == nil then
    raise_c_error(err)
  end
  return ffi.gc(compiled, lib.bpflua_compiled_free)
end

function BPF.new(opts)
  check_options(opts)
  local err = char_ptr_ptr()
  if lib.bpflua_check_privileges(err) ~= 0 then
    raise_c_error(err)
  end
  local source, name = opts.text, "<text>"
  if opts.src_file then
    name = opts.src_file
    if name:sub(1, 1) ~= "/" then
      name = caller_dir() .. "/" .. name
    end
    source = read_file(name)
  end
  local cflags = opts.cflags
  if opts.usdt_contexts then
    -- bpf_usdt_readarg and its spec table (bpf/bpflua/usdt.h).
    cflags = {"-include", "bpflua/usdt.h", unpack(cflags or {})}
  end
  local compiled = compile(source, name, cflags, opts.debug)
  local handle = lib.bpflua_object_load_and_attach(compiled.object, compiled.object_len, "bpflua",
    opts.debug and 1 or 0, err)
  local cache_hit = compiled.cache_hit == 1
  local events = ctypes.parse(ffi.string(compiled.metadata))
  ffi.gc(compiled, nil)
  lib.bpflua_compiled_free(compiled)
  if handle == nil then
    raise_c_error(err)
  end
  local self = setmetatable({
    _handle = ffi.gc(handle, lib.bpflua_object_close),
    _tables = {},
    _source_name = name,
    _events = events,
    _attachments = {},
    cache_hit = cache_hit,
  }, object_mt)
  if opts.usdt_contexts then
    local ok, attach_err = pcall(usdt.attach_contexts, self, opts.usdt_contexts)
    if not ok then
      self:cleanup()
      error(attach_err, 0)
    end
  end
  return self
end

-- Detaches and unloads everything; the object's tables stop working. Safe to call twice.
function object_methods:cleanup()
  local handle = self._handle
  attach.detach_all(self)
  functions.close_all(self)
  trace_pipe.remove_reader(self)
  if self._poller then
    self._poller:close()
    self._poller = nil
  end
  if self._perf_poller_instance then
    self._perf_poller_instance:close()
    self._perf_poller_instance = nil
  end
  if handle ~= nil then
    ffi.gc(handle, nil)
    lib.bpflua_object_close(handle)
    self._handle = nil
    self._tables = {}
  end
end

function object_methods:get_table(name)
  if self._handle == nil then
    error("BPF object was cleaned up", 2)
  end
  local t = self._tables[name]
  if t then
    return t
  end
  local obj = lib.bpflua_object_bpf(self._handle)
  local map = lib.bpf_object__find_map_by_name(obj, name)
  if map == nil or name:sub(1, 1) == "." or name:find("__bpflua_", 1, true) then
    local names = {}
    for _, n in ipairs(self:table_names()) do
      names[#names + 1] = n
    end
    error(string.format("no table named '%s' in %s (it has: %s)", tostring(name),
      self._source_name, #names > 0 and table.concat(names, ", ") or "no tables"), 2)
  end
  local map_type = Table.map_type(map)
  if map_type == "ringbuf" then
    t = ringbuf.RingBuf.new(self, map, self._events[name])
  elseif map_type == "perf_event_array" then
    t = perfbuf.PerfBuf.new(self, map, self._events[name])
  elseif map_type == "stack_trace" then
    t = StackTrace.new(self, map)
  elseif more_tables[map_type] then
    t = more_tables[map_type].new(self, map)
  else
    t = Table.new(self, map)
  end
  self._tables[name] = t
  return t
end

-- The names of the program's own tables (not libbpf's internal .data/.bss maps).
function object_methods:table_names()
  local names = {}
  local obj = lib.bpflua_object_bpf(self._handle)
  local map = lib.bpf_object__next_map(obj, nil)
  while map ~= nil do
    local n = ffi.string(lib.bpf_map__name(map))
    if not n:find(".", 1, true) and not n:find("__bpflua_", 1, true) then
      names[#names + 1] = n
    end
    map = lib.bpf_object__next_map(obj, map)
  end
  table.sort(names)
  return names
end

function object_methods:_ring_poller()
  if not self._poller then
    self._poller = ringbuf.Poller.new()
  end
  return self._poller
end

-- Waits up to timeout_ms (forever when omitted) for records in any ring opened with
-- open_ring_buffer, calls their callbacks, and returns how many records it consumed.
function object_methods:ring_buffer_poll(timeout_ms)
  if not self._poller then
    error("ring_buffer_poll: no ring buffer is open; call b[\"name\"]:open_ring_buffer(fn) first", 2)
  end
  return self._poller:poll(timeout_ms)
end

-- Consumes what every open ring holds, without waiting; returns the number of records.
function object_methods:ring_buffer_consume()
  if not self._poller then
    error("ring_buffer_consume: no ring buffer is open; call b[\"name\"]:open_ring_buffer(fn) first", 2)
  end
  return self._poller:consume()
end

function object_methods:_perf_poller()
  if not self._perf_poller_instance then
    self._perf_poller_instance = perfbuf.Poller.new()
  end
  return self._perf_poller_instance
end

-- Waits up to timeout_ms (forever when omitted) for samples in any perf buffer opened with
-- open_perf_buffer, calls their callbacks, and returns how many samples it consumed.
function object_methods:perf_buffer_poll(timeout_ms)
  if not self._perf_poller_instance then
    error("perf_buffer_poll: no perf buffer is open; call b[\"name\"]:open_perf_buffer(fn) first", 2)
  end
  return self._perf_poller_instance:poll(timeout_ms)
end

-- Consumes what every open perf buffer holds, without waiting; returns the number of samples.
function object_methods:perf_buffer_consume()
  if not self._perf_poller_instance then
    error("perf_buffer_consume: no perf buffer is open; call b[\"name\"]:open_perf_buffer(fn) first", 2)
  end
  return self._perf_poller_instance:consume()
end

-- As ring_buffer_fd, for perf buffers: readable when one opened with open_perf_buffer has
-- samples; then call perf_buffer_consume().
function object_methods:perf_buffer_fd()
  if self._handle == nil then
    error("BPF object was cleaned up", 2)
  end
  return self:_perf_poller().epfd
end

-- b:sym(addr, pid[, show_module[, show_offset]]): as BPF.sym.
function object_methods:sym(addr, pid, show_module, show_offset)
  return symbols.sym(addr, pid, show_module, show_offset)
end

function object_methods:ksym(addr, show_module, show_offset)
  return symbols.ksym(addr, show_module, show_offset)
end

-- A file descriptor that is readable when a ring opened with open_ring_buffer has records
-- (the epoll descriptor of the object's rings): for an event loop of the caller's own (poll,
-- cqueues, luv), which then calls ring_buffer_consume(). Rings opened later join it; it is
-- closed by cleanup or collection.
function object_methods:ring_buffer_fd()
  if self._handle == nil then
    error("BPF object was cleaned up", 2)
  end
  return self:_ring_poller().epfd
end

-- The number of probes attached at load (TRACEPOINT_PROBE and other conventions).
function object_methods:num_attached()
  return self._handle == nil and 0 or lib.bpflua_object_attached_count(self._handle)
end

-- b:load_func(name, BPF.KPROBE): see bpflua/functions.lua.
function object_methods:load_func(name, prog_type, attach_type)
  return functions.load_func(self, name, prog_type, attach_type)
end

for name, method in pairs(attach.methods) do
  object_methods[name] = method
end

-- The trace pipe, where bpf_trace_printk() writes (shared by every BPF object, as in bcc).
function object_methods:trace_readline(nonblocking)
  trace_pipe.add_reader(self)
  return trace_pipe.readline(nonblocking)
end

function object_methods:trace_fields(nonblocking)
  trace_pipe.add_reader(self)
  return trace_pipe.next_fields(nonblocking)
end

function object_methods:trace_print(fmt)
  trace_pipe.add_reader(self)
  return trace_pipe.print(fmt)
end

object_mt.__index = function(self, key)
  local method = object_methods[key]
  if method ~= nil then
    return method
  end
  -- Fields starting with "_" are the object's own (absent once cleaned up), never tables.
  if type(key) == "string" and key:sub(1, 1) ~= "_" then
    return object_methods.get_table(self, key)
  end
  return nil
end

-- The REPL completes b:<Tab> from these: the __index function cannot be listed.
object_mt.__methods = object_methods

-- Whether v is a BPF object.
function BPF.is_object(v)
  return getmetatable(v) == object_mt
end

object_mt.__tostring = function(self)
  if self._handle == nil then
    return "<BPF object (cleaned up)>"
  end
  return string.format("<BPF object from %s: %d probes attached, tables: %s>", self._source_name,
    self:num_attached(), table.concat(self:table_names(), ", "))
end

BPF.ksym = symbols.ksym
BPF.ksymname = symbols.ksymname
BPF.sym = symbols.sym

-- Sleeps for seconds; Ctrl-C in the bpflua host ends it with an "interrupted" error.
function BPF.sleep(seconds)
  if lib.bpflua_sleep(seconds) ~= 0 then
    error("interrupted", 2)
  end
end

BPF.PerfType = attach.PerfType
BPF.PerfHWConfig = attach.PerfHWConfig
BPF.PerfSWConfig = attach.PerfSWConfig
BPF.tracepoint_exists = attach.tracepoint_exists
BPF.get_syscall_fnname = attach.get_syscall_fnname
BPF.find_library = attach.find_library
BPF.USDT = usdt.new
for name, value in pairs(functions.TYPES) do
  BPF[name] = value -- program types for load_func: BPF.KPROBE, BPF.XDP, ...
end
BPF.get_kprobe_functions = function(re) return require("bpflua.patterns").get_kprobe_functions(re) end
BPF.get_tracepoints = function(re) return require("bpflua.patterns").get_tracepoints(re) end
BPF.get_user_functions = function(path, re) return require("bpflua.patterns").get_user_functions(path, re) end
BPF.usdt_probes = usdt.probes

-- BPF.support_kfunc(), support_lsm(), support_raw_tracepoint(): whether this kernel loads and
-- attaches such programs (it is asked, with a program that does nothing); false comes with
-- the reason as a second value.
local function kernel_supports(feature)
  local why = char_ptr_ptr()
  if lib.bpflua_kernel_supports(feature, why) == 1 then
    return true
  end
  local reason = why[0] ~= nil and ffi.string(why[0]) or feature .. " is not supported"
  lib.bpflua_free(why[0])
  return false, reason
end
function BPF.support_kfunc() return kernel_supports("kfunc") end
function BPF.support_lsm() return kernel_supports("lsm") end
function BPF.support_raw_tracepoint() return kernel_supports("raw_tracepoint") end

BPF.version = ffi.string(lib.bpflua_version())
BPF.config = config

return setmetatable(BPF, {
  __call = function(_, opts)
    return BPF.new(opts)
  end,
})
