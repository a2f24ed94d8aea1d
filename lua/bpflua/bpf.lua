-- The BPF class: what `require("bpflua")` returns.
--
--   local b = BPF{text = src, cflags = {"-DN=3"}, debug = false}
--   local b = BPF{src_file = "prog.c"}      -- relative to the calling script
--   b["counts"]:get(0)                      -- tables by name (also b:get_table("counts"))
--   b:cleanup()                             -- or let the garbage collector do it
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local config = require("bpflua.config")
local ringbuf = require("bpflua.ringbuf")
local ctypes = require("bpflua.ctypes")
local errors = require("bpflua.errors")
local lifetime = require("bpflua.lifetime")
local functions = require("bpflua.functions")

-- The modules that a program attached at load and read through a ring buffer never uses
-- (other tables, attach_*, symbols, USDT, the trace pipe, src_file checks) load at their
-- first use: a cached program's first event waits for every module loaded before it.
-- lazy.usdt is require("bpflua.usdt").
local lazy = setmetatable({}, {
  __index = function(modules, name)
    local module = require("bpflua." .. name)
    modules[name] = module
    return module
  end,
})

local BPF = {}

local object_methods = {}
local object_mt = {}

-- The directory of the script that called into bpflua, for src_file paths.
local function caller_dir()
  local level = errors.user_level()
  local info = level > 0 and debug.getinfo(level, "S")
  local source = info and info.source or ""
  if source:sub(1, 1) == "@" then
    return source:sub(2):match("^(.*)/[^/]*$") or "."
  end
  return "."
end

-- The C of src_file: a regular file (a FIFO would wait for a writer, a directory has none).
local function read_source_file(path)
  lazy.fs.check_regular(path, "BPF: src_file", errors.raise)
  local f, err = io.open(path, "rb")
  if not f then
    errors.raise("BPF: cannot read src_file: " .. err)
  end
  local text, read_err = f:read("*a")
  f:close()
  if text == nil then
    errors.raise("BPF: cannot read src_file " .. path .. ": " .. tostring(read_err))
  end
  return text
end

local function check_options(opts)
  if type(opts) ~= "table" then
    errors.raise("BPF: expected a table of options, as in BPF{text = src}")
  end
  local known = {text = true, src_file = true, cflags = true, debug = true, usdt_contexts = true}
  for k in pairs(opts) do
    if not known[k] then
      errors.raise("BPF: unknown option '" .. tostring(k) .. "' (options: text, src_file, cflags, debug, usdt_contexts)")
    end
  end
  if opts.usdt_contexts ~= nil and type(opts.usdt_contexts) ~= "table" then
    errors.raise("BPF: usdt_contexts must be a table of USDT objects, as in {u}")
  end
  if (opts.text == nil) == (opts.src_file == nil) then
    errors.raise("BPF: give the program as text = \"...\" or src_file = \"path\" (one of them)")
  end
  if opts.text ~= nil and type(opts.text) ~= "string" then
    errors.raise("BPF: text must be a string of BPF C, not a " .. type(opts.text))
  end
  if opts.src_file ~= nil then
    if type(opts.src_file) ~= "string" or opts.src_file == "" then
      errors.raise("BPF: src_file must be a path (a non-empty string), not " ..
        (type(opts.src_file) == "string" and "\"\"" or "a " .. type(opts.src_file)))
    end
    -- A C string cannot hold a NUL byte: the path could not name the source to Clang.
    if opts.src_file:find("%z") then
      errors.raise("BPF: src_file must not contain a NUL byte: " .. string.format("%q", opts.src_file))
    end
  end
  if opts.cflags ~= nil then
    if type(opts.cflags) ~= "table" then
      errors.raise("BPF: cflags must be a table of strings, as in {\"-DN=3\"}")
    end
    for i, f in ipairs(opts.cflags) do
      if type(f) ~= "string" and type(f) ~= "number" then
        errors.raise("BPF: cflags[" .. i .. "] must be a string, not a " .. type(f))
      end
    end
  end
end

local function compile(source, name, cflags, debug)
  local flags = cflags or {}
  local c_flags = ffi.new("const char *[?]", #flags + 1)
  local keep = {}
  for i, f in ipairs(flags) do
    keep[i] = tostring(f)
    c_flags[i - 1] = keep[i]
  end
  local opts = ffi.new("struct bpflua_compile_opts", {
    source = source, source_len = #source, source_name = name,
    cflags = c_flags, ncflags = #flags, debug = debug and 1 or 0,
  })
  local err = errors.message_ptr()
  local compiled = lib.bpflua_compile(opts, err)
  if compiled == nil then
    if lib.bpflua_interrupted() ~= 0 then
      errors.take_c(err)
      errors.interrupted(0) -- Ctrl-C stopped the compiler
    end
    -- C errors in text = [[...]] name the script's file and line
    local message = errors.take_c(err)
    if name == "<text>" then
      message = lazy.text_position.rewrite(message, name, lazy.text_position.locate_in_caller(source))
    end
    errors.fail(message)
  end
  return ffi.gc(compiled, lib.bpflua_compiled_free)
end

-- Failures that dropped objects not yet collected may cause: a tracepoint holds a bounded
-- number of programs (E2BIG), a process a bounded number of descriptors (EMFILE), and
-- memory is charged to the cgroup (ENOMEM, EPERM from the memlock accounting).
local function for_want_of_room(message)
  return message:find("Argument list too long", 1, true) or
    message:find("Too many open files", 1, true) or
    message:find("Cannot allocate memory", 1, true)
end

-- Loads compiled into the kernel; nil and the message on failure.
local function load(compiled, debug)
  local err = errors.message_ptr()
  local handle = lib.bpflua_object_load_and_attach(compiled.object, compiled.object_len, "bpflua",
    debug and 1 or 0, err)
  if handle == nil then
    return nil, errors.take_c(err)
  end
  -- Owned from the first moment: the finalizer is cleanup's teardown.
  local state = lifetime.new()
  handle = ffi.gc(handle, function(h) lifetime.teardown(state, h, lib.bpflua_object_close) end)
  return handle, state
end

function BPF.new(opts)
  check_options(opts)
  local err = errors.message_ptr()
  if lib.bpflua_check_privileges(err) ~= 0 then
    errors.raise_c(err, nil, false) -- one sentence, about the process rather than a line
  end
  local source, name = opts.text, "<text>"
  if opts.src_file then
    name = opts.src_file
    if name:sub(1, 1) ~= "/" then
      name = caller_dir() .. "/" .. name
    end
    source = read_source_file(name)
  end
  local cflags = opts.cflags
  if opts.usdt_contexts then
    -- bpf_usdt_readarg and its spec table (bpf/bpflua/usdt.h).
    cflags = {"-include", "bpflua/usdt.h", unpack(cflags or {})}
  end
  local compiled = compile(source, name, cflags, opts.debug)
  local cache_hit = compiled.cache_hit == 1
  local events = ctypes.parse(ffi.string(compiled.metadata))
  lifetime.before_load()
  local handle, state = load(compiled, opts.debug)
  if handle == nil and for_want_of_room(state) and lifetime.collect() then
    handle, state = load(compiled, opts.debug)
  end
  ffi.gc(compiled, nil)
  lib.bpflua_compiled_free(compiled)
  if handle == nil then
    -- the message names the program, the probe or the line (in the script, for text)
    if name == "<text>" then
      state = lazy.text_position.rewrite(state, name, lazy.text_position.locate_in_caller(source))
    end
    errors.fail(state)
  end
  local self = setmetatable({
    _handle = handle,
    _state = state,
    _tables = {},
    _source_name = name,
    _text_origin = name == "<text>" and lazy.text_position.origin(source) or nil, -- for attach's errors
    _events = events,
    _attachments = {},
    cache_hit = cache_hit,
  }, object_mt)
  if opts.usdt_contexts then
    local ok, attach_err = pcall(lazy.usdt.attach_contexts, self, opts.usdt_contexts)
    if not ok then
      self:cleanup()
      error(attach_err, 0)
    end
  end
  return self
end

-- Detaches and unloads everything; the object's tables stop working (their methods say the
-- object was cleaned up). Safe to call twice, and from inside a ring or perf buffer callback
-- (the walk stops after that callback). The garbage collector does the same.
function object_methods:cleanup()
  local handle = self._handle
  if handle == nil then
    return
  end
  -- functions load_func loaded go before the object they came from
  functions.close_all(self)
  self._handle = nil
  ffi.gc(handle, nil)
  lifetime.teardown(self._state, handle, lib.bpflua_object_close)
  self._attachments = {}
  self._tables = {}
end

local function check_open(self)
  if self._handle == nil then
    errors.raise("BPF object was cleaned up")
  end
end

-- A map's type as libbpf names it, as Table.map_type does (without loading table.lua for a
-- ring buffer).
local function map_type_of(map)
  local t = lib.bpf_map__type(map)
  local type_name = lib.libbpf_bpf_map_type_str(t)
  return type_name ~= nil and ffi.string(type_name) or tostring(t)
end

function object_methods:get_table(name)
  check_open(self)
  if type(name) ~= "string" then
    errors.raise("get_table: expected a table name (a string), not " ..
      (name == nil and "nil" or "a " .. type(name)))
  end
  local t = self._tables[name]
  if t then
    return t
  end
  local obj = lib.bpflua_object_bpf(self._handle)
  local map = lib.bpf_object__find_map_by_name(obj, name)
  if map == nil or name:sub(1, 1) == "." or name:find("__bpflua_", 1, true) then
    local names = self:table_names()
    errors.raise(string.format("no table named '%s' in %s (it has: %s)", name,
      self._source_name, #names > 0 and table.concat(names, ", ") or "no tables"))
  end
  local map_type = map_type_of(map)
  if map_type == "ringbuf" then
    t = ringbuf.RingBuf.new(self, map, self._events[name])
  elseif map_type == "perf_event_array" then
    t = lazy.perfbuf.PerfBuf.new(self, map, self._events[name])
  elseif map_type == "stack_trace" then
    t = lazy.stack_trace.new(self, map)
  elseif lazy.more_tables[map_type] then
    t = lazy.more_tables[map_type].new(self, map)
  else
    t = lazy.table.new(self, map)
  end
  self._tables[name] = t
  return t
end

-- The names of the program's own tables (not libbpf's internal .data/.bss maps).
function object_methods:table_names()
  check_open(self)
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

-- The object's poller of ring buffers (kind "ring") or perf buffers ("perf"), made when
-- the first one opens.
function object_methods:_poller(kind)
  check_open(self)
  local field = kind == "ring" and "_ring_poller_instance" or "_perf_poller_instance"
  local poller = self[field]
  if not poller then
    poller = ringbuf.Poller.new(self._state, kind)
    rawset(self, field, poller)
  end
  return poller
end

local function open_poller(self, kind, what)
  check_open(self)
  local poller = rawget(self, kind == "ring" and "_ring_poller_instance" or "_perf_poller_instance")
  if not poller then
    errors.raise(string.format("%s: no %s buffer is open; call b[\"name\"]:open_%s_buffer(fn) first",
      what, kind, kind))
  end
  return poller
end

-- Waits up to timeout_ms (forever when omitted or negative, as in bcc) for records in any
-- ring opened with open_ring_buffer, calls their callbacks, and returns how many records it
-- consumed.
function object_methods:ring_buffer_poll(timeout_ms)
  return open_poller(self, "ring", "ring_buffer_poll"):poll(timeout_ms)
end

-- Consumes what every open ring holds, without waiting; returns the number of records.
function object_methods:ring_buffer_consume()
  return open_poller(self, "ring", "ring_buffer_consume"):consume()
end

-- Waits up to timeout_ms (forever when omitted or negative) for samples in any perf buffer
-- opened with open_perf_buffer, calls their callbacks, and returns how many samples it
-- consumed.
function object_methods:perf_buffer_poll(timeout_ms)
  return open_poller(self, "perf", "perf_buffer_poll"):poll(timeout_ms)
end

-- Consumes what every open perf buffer holds, without waiting; returns the number of samples.
function object_methods:perf_buffer_consume()
  return open_poller(self, "perf", "perf_buffer_consume"):consume()
end

-- A file descriptor that is readable when a ring opened with open_ring_buffer has records
-- (the epoll descriptor of the object's rings): for an event loop of the caller's own (poll,
-- cqueues, luv), which then calls ring_buffer_consume(). Rings opened later join it; it is
-- closed by cleanup or collection.
function object_methods:ring_buffer_fd()
  return self:_poller("ring").epfd
end

-- As ring_buffer_fd, for perf buffers: readable when one opened with open_perf_buffer has
-- samples; then call perf_buffer_consume().
function object_methods:perf_buffer_fd()
  return self:_poller("perf").epfd
end

-- b:sym(addr, pid[, show_module[, show_offset[, demangle]]]): as BPF.sym.
function object_methods:sym(addr, pid, show_module, show_offset, demangle)
  return lazy.symbols.sym(addr, pid, show_module, show_offset, demangle)
end

function object_methods:ksym(addr, show_module, show_offset)
  return lazy.symbols.ksym(addr, show_module, show_offset)
end

-- The number of probes attached at load (TRACEPOINT_PROBE and other conventions).
function object_methods:num_attached()
  return self._handle == nil and 0 or lib.bpflua_object_attached_count(self._handle)
end

-- b:load_func(name, BPF.KPROBE): see bpflua/functions.lua.
function object_methods:load_func(name, prog_type, attach_type)
  return functions.load_func(self, name, prog_type, attach_type)
end

-- attach.lua's methods, bcc's attach_* and detach_* (spec/module_loading_spec.lua checks that
-- this list is theirs): attach.lua loads at the first call of one.
for _, name in ipairs({
  "attach_tracepoint", "detach_tracepoint", "attach_raw_tracepoint", "detach_raw_tracepoint",
  "attach_uprobe", "attach_uretprobe", "detach_uprobe", "detach_uretprobe",
  "attach_kprobe", "attach_kretprobe", "detach_kprobe", "detach_kretprobe",
  "attach_perf_event", "detach_perf_event",
  "num_open_tracepoints", "num_open_uprobes", "num_open_kprobes",
}) do
  object_methods[name] = function(self, ...)
    return lazy.attach.methods[name](self, ...)
  end
end

-- The trace pipe, where bpf_trace_printk() writes (shared by every BPF object, as in bcc).
-- An object that read it keeps it open until it is cleaned up or collected.
local function trace_reader(self)
  check_open(self)
  lazy.trace_pipe.add_reader(self._state)
  return lazy.trace_pipe
end

function object_methods:trace_readline(nonblocking)
  return trace_reader(self).readline(nonblocking)
end

function object_methods:trace_fields(nonblocking)
  return trace_reader(self).next_fields(nonblocking)
end

function object_methods:trace_print(fmt)
  return trace_reader(self).print(fmt)
end

object_mt.__index = function(self, key)
  local method = object_methods[key]
  if method ~= nil then
    return method
  end
  if type(key) ~= "string" then
    return nil
  end
  if key:sub(1, 1) ~= "_" then
    return object_methods.get_table(self, key)
  end
  -- Names starting with "_" are first the object's own fields (absent once cleaned up, and
  -- then no error); a live object's table may be named so too (argdist's __x64_sys_... maps).
  if rawget(self, "_handle") ~= nil then
    local ok, t = pcall(object_methods.get_table, self, key)
    return ok and t or nil
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

function BPF.ksym(...) return lazy.symbols.ksym(...) end
function BPF.ksymname(...) return lazy.symbols.ksymname(...) end
function BPF.sym(...) return lazy.symbols.sym(...) end
function BPF.symbol_options(...) return lazy.symbols.options(...) end

-- Sleeps for seconds; Ctrl-C in the bpflua host ends it with an "interrupted" error.
function BPF.sleep(seconds)
  if type(seconds) ~= "number" or seconds ~= seconds then
    errors.raise("BPF.sleep: expected a number of seconds, not " .. tostring(seconds))
  end
  if lib.bpflua_sleep(seconds) ~= 0 then
    errors.interrupted(2)
  end
end

-- Time on the clock of bpf_ktime_get_ns() (CLOCK_MONOTONIC), in nanoseconds.
-- BPF.monotonic_time(): as bcc's, a Lua number. BPF.ktime(): exact, to compare with
-- timestamps a program stored: a Lua number, or uint64_t cdata past 2^53 ns (104 days
-- of uptime), as tables give such values. clock_gettime is declared under a name of
-- bpflua's own, so that a script's own declaration of it (with its own struct) still works.
ffi.cdef[[
struct bpflua_ktime_spec { long tv_sec; long tv_nsec; };
int bpflua_ktime_clock_gettime(int clock, struct bpflua_ktime_spec *ts) __asm__("clock_gettime");
]]
local ktime_spec = ffi.new("struct bpflua_ktime_spec")
local CLOCK_MONOTONIC = 1
local uint64_t = ffi.typeof("uint64_t")

function BPF.monotonic_time()
  ffi.C.bpflua_ktime_clock_gettime(CLOCK_MONOTONIC, ktime_spec)
  return tonumber(ktime_spec.tv_sec) * 1e9 + tonumber(ktime_spec.tv_nsec)
end

function BPF.ktime()
  ffi.C.bpflua_ktime_clock_gettime(CLOCK_MONOTONIC, ktime_spec)
  local ns = ffi.cast(uint64_t, ktime_spec.tv_sec) * 1000000000 + ktime_spec.tv_nsec
  return ns < 2 ^ 53 and tonumber(ns) or ns
end

-- bcc's constants for attach_perf_event.
BPF.PerfType = {HARDWARE = 0, SOFTWARE = 1, TRACEPOINT = 2, HW_CACHE = 3, RAW = 4, BREAKPOINT = 5}
BPF.PerfHWConfig = {
  CPU_CYCLES = 0, INSTRUCTIONS = 1, CACHE_REFERENCES = 2, CACHE_MISSES = 3,
  BRANCH_INSTRUCTIONS = 4, BRANCH_MISSES = 5, BUS_CYCLES = 6, STALLED_CYCLES_FRONTEND = 7,
  STALLED_CYCLES_BACKEND = 8, REF_CPU_CYCLES = 9,
}
BPF.PerfSWConfig = {
  CPU_CLOCK = 0, TASK_CLOCK = 1, PAGE_FAULTS = 2, CONTEXT_SWITCHES = 3, CPU_MIGRATIONS = 4,
  PAGE_FAULTS_MIN = 5, PAGE_FAULTS_MAJ = 6, ALIGNMENT_FAULTS = 7, EMULATION_FAULTS = 8,
  DUMMY = 9, BPF_OUTPUT = 10,
}
function BPF.tracepoint_exists(...) return lazy.attach.tracepoint_exists(...) end
function BPF.get_syscall_fnname(...) return lazy.attach.get_syscall_fnname(...) end
function BPF.find_library(...) return lazy.attach.find_library(...) end
function BPF.USDT(...) return lazy.usdt.new(...) end
for name, value in pairs(functions.TYPES) do
  BPF[name] = value -- program types for load_func: BPF.KPROBE, BPF.XDP, ...
end
BPF.get_kprobe_functions = function(re) return require("bpflua.patterns").get_kprobe_functions(re) end
BPF.get_tracepoints = function(re) return require("bpflua.patterns").get_tracepoints(re) end
BPF.get_user_functions = function(path, re) return require("bpflua.patterns").get_user_functions(path, re) end
function BPF.usdt_probes(...) return lazy.usdt.probes(...) end

-- BPF.support_kfunc(), support_lsm(), support_raw_tracepoint(): whether this kernel loads and
-- attaches such programs (it is asked, with a program that does nothing); false comes with
-- the reason as a second value.
local function kernel_supports(feature)
  local why = errors.message_ptr()
  if lib.bpflua_kernel_supports(feature, why) == 1 then
    return true
  end
  return false, errors.take_c(why, feature .. " is not supported")
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
