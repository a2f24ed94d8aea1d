-- bcc's attach_* and detach_* calls on a BPF object, with named arguments in a table:
--   b:attach_tracepoint{tp = "sched:sched_switch", fn_name = "on_switch"}
-- Each attachment loads the named function as a program of the type its attach point needs
-- (runtime/attach.c) and is kept until detached, cleaned up or collected.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local errors = require("bpflua.errors")
local lifetime = require("bpflua.lifetime")
local fs = require("bpflua.fs")
local tracefs = require("bpflua.tracefs")

local M = {}

-- enum bpflua_attach_kind's values, from runtime/bpflua.h.
local KIND = {
  tracepoint = lib.BPFLUA_ATTACH_TRACEPOINT, raw_tracepoint = lib.BPFLUA_ATTACH_RAW_TRACEPOINT,
  uprobe = lib.BPFLUA_ATTACH_UPROBE, uretprobe = lib.BPFLUA_ATTACH_URETPROBE,
  perf_event = lib.BPFLUA_ATTACH_PERF_EVENT,
  kprobe = lib.BPFLUA_ATTACH_KPROBE, kretprobe = lib.BPFLUA_ATTACH_KRETPROBE,
}

-- required: names the call needs ("tp|tp_re": one of them); allowed: every name it knows,
-- so that a misspelt or unsupported option is an error, not silently ignored.
local function check_args(what, args, required, allowed)
  if type(args) ~= "table" then
    errors.raise(what .. ": expected a table of arguments, as in " .. what .. "{fn_name = \"f\", ...}")
  end
  if allowed then
    local known = {}
    for _, name in ipairs(allowed) do
      known[name] = true
    end
    for k in pairs(args) do
      if not known[k] then
        error(string.format("%s: unknown option '%s' (options: %s)", what, tostring(k),
          table.concat(allowed, ", ")), 3)
      end
    end
  end
  for _, name in ipairs(required) do
    local first, second = name:match("^([^|]+)|(.+)$")
    if first then
      if args[first] == nil and args[second] == nil then
        errors.raise(string.format("%s: missing argument '%s' (or '%s')", what, first, second))
      elseif args[first] ~= nil and args[second] ~= nil then
        errors.raise(string.format("%s: give '%s' or '%s', not both", what, first, second))
      end
    elseif args[name] == nil then
      errors.raise(what .. ": missing argument '" .. name .. "'")
    end
  end
end

local function check_type(what, args, name, kind)
  local v = args[name]
  if v ~= nil and type(v) ~= kind then
    errors.raise(string.format("%s: %s must be a %s, not a %s", what, name, kind, type(v)))
  end
end

-- An integer argument within lo..hi (nil when absent).
local function check_integer(what, args, name, lo, hi)
  local v = args[name]
  if v == nil then
    return
  end
  if type(v) ~= "number" or v ~= v or v % 1 ~= 0 or v < lo or v > hi then
    errors.raise(string.format("%s: %s must be an integer from %s to %s, not %s", what, name,
      string.format("%.0f", lo), string.format("%.0f", hi), tostring(v)))
  end
end

-- Attaches fn_name at each of names (what a pattern matched) under one key, so that the
-- pattern detaches them together; if one fails, those attached so far are detached again.
local function attach_each(self, kind, key, names, fields_of)
  if self._handle == nil then
    errors.raise("BPF object was cleaned up")
  end
  for _, name in ipairs(names) do
    local ok, err = M._try_attach(self, kind, key, fields_of(name))
    if not ok then
      M._detach(self, "", key, true)
      errors.raise(err)
    end
  end
end

-- bcc's rule for uprobe targets: a name without "/" is a library ("c" is libc), found in
-- the dynamic loader's cache as libNAME.so or libNAME.so.N (some libraries, as nspr4, are
-- installed only unversioned); anything else is a path.
function M.find_library(name)
  if type(name) ~= "string" or name == "" then
    errors.raise("find_library: expected a library name or a path, not " .. tostring(name))
  end
  if name:find("/", 1, true) then
    return name
  end
  local wanted = name:match("^lib") and name or ("lib" .. name)
  local cache = io.popen("/sbin/ldconfig -p 2>/dev/null")
  local found
  if cache then
    for line in cache:lines() do
      local lib_name, path = line:match("^%s*(%S+)%s.*=>%s*(%S+)")
      if lib_name and (lib_name == wanted or lib_name == wanted .. ".so" or
                       lib_name:sub(1, #wanted + 4) == wanted .. ".so.") and
         not line:find("x32", 1, true) and not line:find("i386", 1, true) then
        found = found or path
      end
    end
    cache:close()
  end
  if not found then
    errors.raise("cannot find library '" .. name .. "' in the dynamic loader's cache (ldconfig -p)")
  end
  return found
end

-- A uprobe's binary must be an ELF file: libbpf would wait forever on a FIFO and answer
-- "Unknown error 4001" for anything else.
local function check_binary(what, path)
  fs.check_regular(path, what .. ":", errors.raise)
  local f, err = io.open(path, "rb")
  if not f then
    errors.raise(what .. ": cannot read " .. path .. ": " .. tostring(err))
  end
  local magic = f:read(4)
  f:close()
  if magic ~= "\127ELF" then
    errors.raise(what .. ": " .. path .. " is not an ELF file")
  end
end

local function attach_once(self, opts)
  local err = errors.message_ptr()
  local handle = lib.bpflua_attach(self._handle, opts, err)
  if handle == nil then
    local message = errors.take_c(err, "cannot attach " .. ffi.string(opts.fn_name))
    -- a program loaded here: the verifier's lines of text = [[...]] are the script's
    return nil, require("bpflua.text_position").rewrite_from(message, self._source_name, self._text_origin)
  end
  local close = lifetime.once(lib.bpflua_attachment_close)
  return ffi.gc(handle, close), close
end

-- Attaches and records the attachment under key; nil and the message on failure.
local function try_attach(self, kind, key, fields)
  local fn = fields.fn
  if fn ~= nil then
    -- A function b:load_func loaded (fn = f instead of fn_name): attached as it is.
    if type(fn) ~= "table" or fn._handle == nil or fn._owner ~= self then
      return nil, "fn must be a function this object's load_func returned (and not yet closed)"
    end
    fields.fn, fields.fn_name, fields.loaded = nil, fn.name, fn._handle
  end
  local opts = ffi.new("struct bpflua_attach_opts", fields)
  opts.kind = KIND[kind]
  local handle, close = attach_once(self, opts)
  local message = close
  -- Dropped objects may hold what the kernel ran out of (a tracepoint's program slots,
  -- descriptors): collect them and try once more.
  if handle == nil and (message:find("Argument list too long", 1, true) or
     message:find("Too many open files", 1, true)) and lifetime.collect() then
    handle, close = attach_once(self, opts)
    message = close
  end
  if handle == nil then
    return nil, message
  end
  self._state:own(handle, close)
  local list = self._attachments[key] or {}
  list[#list + 1] = handle
  self._attachments[key] = list
  return true
end

local function attach(self, kind, key, fields)
  if self._handle == nil then
    errors.raise("BPF object was cleaned up")
  end
  local ok, message = try_attach(self, kind, key, fields)
  if not ok then
    errors.raise(message)
  end
end

local function detach(self, what, key, quiet)
  if self._handle == nil then
    if quiet then
      return
    end
    errors.raise(what .. ": BPF object was cleaned up")
  end
  local list = self._attachments[key]
  if not list then
    if quiet then
      return
    end
    errors.raise(what .. ": nothing is attached to " .. key:gsub("^[^:]+:", "", 1):gsub("^re:", "", 1))
  end
  for _, handle in ipairs(list) do
    self._state:release(handle)
  end
  self._attachments[key] = nil
end

M._try_attach, M._detach = try_attach, detach

local methods = {}

local function patterns()
  return require("bpflua.patterns")
end

-- Every name a pattern matches, or an error saying it matched nothing.
local function matches(what, list, re, kind)
  if #list == 0 then
    error(string.format("%s: no %s matches '%s'", what, kind, re), 3)
  end
  return list
end

function methods:attach_tracepoint(args)
  check_args("attach_tracepoint", args, {"tp|tp_re", "fn_name|fn"}, {"tp", "tp_re", "fn_name", "fn"})
  check_type("attach_tracepoint", args, "tp", "string")
  check_type("attach_tracepoint", args, "tp_re", "string")
  check_type("attach_tracepoint", args, "fn_name", "string")
  if args.tp_re then
    local names = matches("attach_tracepoint", patterns().get_tracepoints(args.tp_re, "attach_tracepoint"), args.tp_re,
      "tracepoint")
    attach_each(self, "tracepoint", "tracepoint:re:" .. args.tp_re, names, function(tp)
      return {fn_name = args.fn_name, fn = args.fn, target = tp}
    end)
    return
  end
  attach(self, "tracepoint", "tracepoint:" .. args.tp, {fn_name = args.fn_name, fn = args.fn, target = args.tp})
end

function methods:detach_tracepoint(args)
  check_args("detach_tracepoint", args, {"tp|tp_re"}, {"tp", "tp_re"})
  detach(self, "detach_tracepoint", "tracepoint:" .. (args.tp_re and ("re:" .. args.tp_re) or args.tp))
end

function methods:attach_raw_tracepoint(args)
  check_args("attach_raw_tracepoint", args, {"tp", "fn_name|fn"}, {"tp", "fn_name", "fn"})
  check_type("attach_raw_tracepoint", args, "tp", "string")
  check_type("attach_raw_tracepoint", args, "fn_name", "string")
  attach(self, "raw_tracepoint", "raw_tracepoint:" .. args.tp, {fn_name = args.fn_name, fn = args.fn, target = args.tp})
end

function methods:detach_raw_tracepoint(args)
  check_args("detach_raw_tracepoint", args, {"tp"}, {"tp"})
  detach(self, "detach_raw_tracepoint", "raw_tracepoint:" .. args.tp)
end

local function uprobe_key(kind, args, path)
  local what = args.sym_re and ("re:" .. args.sym_re) or args.sym or string.format("0x%x", args.addr or 0)
  return string.format("%s:%s:%s:%s", kind, path, what, tostring(args.pid or -1))
end

local UPROBE_OPTIONS = {"name", "sym", "sym_re", "addr", "sym_off", "fn_name", "fn", "pid"}

-- sym_re: every function of the binary whose name matches, one uprobe each (aliases of one
-- address once), all from one load of the program.
local function attach_uprobe_re(self, kind, args, path)
  local what = "attach_" .. kind
  local funcs = matches(what, patterns().user_functions(path, args.sym_re, what), args.sym_re,
    "function of " .. path)
  local locations = ffi.new("struct bpflua_uprobe_location[?]", #funcs)
  for i, f in ipairs(funcs) do
    locations[i - 1].offset = f.offset
  end
  attach(self, kind, uprobe_key(kind, args, path), {
    fn_name = args.fn_name, fn = args.fn, target = path, pid = args.pid or -1,
    locations = locations, nlocations = #funcs,
  })
end

-- bcc's addr: an address in the binary, as its symbol table and `readelf -s` give it; the
-- uprobe goes at the file offset that its loadable segment puts there (the two differ in a
-- non-PIE executable, such as Debian's python3).
local function file_offset_of(what, path, addr)
  local err = errors.message_ptr()
  local t = lib.bpflua_elf_symbols_load(path, err)
  if t == nil then
    errors.raise(what .. ": " .. errors.take_c(err))
  end
  local offset
  for i = 0, t.nsegments - 1 do
    local seg = t.segments[i]
    if addr >= seg.vaddr and addr < seg.vaddr + seg.filesz then
      offset = tonumber(addr - seg.vaddr + seg.offset)
      break
    end
  end
  lib.bpflua_symbol_table_free(t)
  if not offset then
    errors.raise(string.format("%s: address 0x%x is in no loadable segment of %s (addr is an " ..
      "address in the binary, as bcc takes it)", what, addr, path))
  end
  return offset
end

local function attach_uprobe(self, kind, args)
  local what = "attach_" .. kind
  check_args(what, args, {"name", "fn_name|fn"}, UPROBE_OPTIONS)
  check_type(what, args, "name", "string")
  check_type(what, args, "fn_name", "string")
  check_type(what, args, "sym", "string")
  check_type(what, args, "sym_re", "string")
  if not args.sym and not args.addr and not args.sym_re then
    errors.raise(what .. ": give sym = \"function\", sym_re = \"regex\" or addr = address")
  end
  -- Addresses and offsets below 2^53, so that a Lua number holds them exactly.
  check_integer(what, args, "addr", 0, 2 ^ 53)
  check_integer(what, args, "sym_off", 0, 2 ^ 53)
  check_integer(what, args, "pid", -1, 2 ^ 31 - 1)
  local path = M.find_library(args.name)
  check_binary(what, path)
  if args.sym_re then
    return attach_uprobe_re(self, kind, args, path)
  end
  -- As in bcc, an address names the place itself, whatever sym says.
  local sym, offset = args.sym, 0
  if args.addr then
    sym, offset = nil, file_offset_of(what, path, args.addr)
  end
  attach(self, kind, uprobe_key(kind, args, path), {
    fn_name = args.fn_name, fn = args.fn, target = path, sym = sym,
    offset = offset + (args.sym_off or 0), pid = args.pid or -1,
  })
end

local function detach_uprobe(self, kind, args)
  check_args("detach_" .. kind, args, {"name"}, UPROBE_OPTIONS)
  detach(self, "detach_" .. kind, uprobe_key(kind, args, M.find_library(args.name)))
end

function methods:attach_uprobe(args) return attach_uprobe(self, "uprobe", args) end
function methods:attach_uretprobe(args) return attach_uprobe(self, "uretprobe", args) end
function methods:detach_uprobe(args) return detach_uprobe(self, "uprobe", args) end
function methods:detach_uretprobe(args) return detach_uprobe(self, "uretprobe", args) end

local function attach_kprobe(self, kind, args)
  local what = "attach_" .. kind
  check_args(what, args, {"event|event_re", "fn_name|fn"}, {"event", "event_re", "fn_name", "fn"})
  if args.event_re then
    local names = matches(what, patterns().get_kprobe_functions(args.event_re, what), args.event_re,
      "kernel function")
    attach_each(self, kind, kind .. ":re:" .. args.event_re, names, function(event)
      return {fn_name = args.fn_name, fn = args.fn, target = event}
    end)
    return
  end
  attach(self, kind, kind .. ":" .. args.event, {fn_name = args.fn_name, fn = args.fn, target = args.event})
end

local function detach_kprobe(self, kind, args)
  check_args("detach_" .. kind, args, {"event|event_re"}, {"event", "event_re"})
  detach(self, "detach_" .. kind, kind .. ":" .. (args.event_re and ("re:" .. args.event_re) or args.event))
end

function methods:attach_kprobe(args) return attach_kprobe(self, "kprobe", args) end
function methods:attach_kretprobe(args) return attach_kprobe(self, "kretprobe", args) end
function methods:detach_kprobe(args) return detach_kprobe(self, "kprobe", args) end
function methods:detach_kretprobe(args) return detach_kprobe(self, "kretprobe", args) end

function methods:attach_perf_event(args)
  check_args("attach_perf_event", args, {"ev_type", "ev_config", "fn_name|fn"},
    {"ev_type", "ev_config", "fn_name", "fn", "sample_period", "sample_freq", "pid", "cpu"})
  check_type("attach_perf_event", args, "fn_name", "string")
  check_integer("attach_perf_event", args, "ev_type", 0, 2 ^ 32 - 1)
  check_integer("attach_perf_event", args, "ev_config", 0, 2 ^ 53)
  check_integer("attach_perf_event", args, "sample_period", 1, 2 ^ 53)
  check_integer("attach_perf_event", args, "sample_freq", 1, 2 ^ 53)
  check_integer("attach_perf_event", args, "pid", -1, 2 ^ 31 - 1)
  check_integer("attach_perf_event", args, "cpu", -1, 2 ^ 31 - 1)
  if args.sample_period and args.sample_freq then
    errors.raise("attach_perf_event: give sample_period or sample_freq, not both")
  end
  local key = string.format("perf_event:%d:%d:%s:%s", args.ev_type, args.ev_config,
    tostring(args.pid or -1), tostring(args.cpu or -1))
  attach(self, "perf_event", key, {
    fn_name = args.fn_name, fn = args.fn, perf_type = args.ev_type, perf_config = args.ev_config,
    sample_period = args.sample_period or 0, sample_freq = args.sample_freq or 0,
    pid = args.pid or -1, cpu = args.cpu or -1,
  })
end

function methods:detach_perf_event(args)
  check_args("detach_perf_event", args, {"ev_type", "ev_config"}, {"ev_type", "ev_config", "pid", "cpu"})
  detach(self, "detach_perf_event", string.format("perf_event:%d:%d:%s:%s", args.ev_type,
    args.ev_config, tostring(args.pid or -1), tostring(args.cpu or -1)))
end

local function count(self, prefixes)
  local n = 0
  for key, list in pairs(self._attachments) do
    for _, prefix in ipairs(prefixes) do
      if key:sub(1, #prefix + 1) == prefix .. ":" then
        n = n + #list
      end
    end
  end
  return n
end

-- bcc's introspection: tracepoints attached at load count too.
function methods:num_open_tracepoints()
  return count(self, {"tracepoint", "raw_tracepoint"}) + self:num_attached()
end

function methods:num_open_uprobes()
  return count(self, {"uprobe", "uretprobe"})
end

function methods:num_open_kprobes()
  return count(self, {"kprobe", "kretprobe"})
end

M.methods = methods

-- BPF.tracepoint_exists(category, event)
function M.tracepoint_exists(category, event)
  local path = tracefs.path("events/" .. category .. "/" .. event .. "/format")
  local f = path and io.open(path)
  if f then
    f:close()
    return true
  end
  return false
end

-- BPF.get_syscall_fnname("openat"): the kernel function behind a syscall ("__x64_sys_openat").
-- Since 4.17 the entry point is the architecture's wrapper; older kernels call it sys_NAME.
-- Names like __do_sys_NAME and __se_sys_NAME are the wrapper's static insides, often inlined
-- and then not probeable (6.1 refuses a kprobe on __do_sys_getpriority), so only these count.
local SYSCALL_PREFIXES = {"__x64_sys_", "__arm64_sys_", "__s390x_sys_", "__riscv_sys_", "sys_"}

function M.get_syscall_fnname(name)
  local rank = {}
  for i, prefix in ipairs(SYSCALL_PREFIXES) do
    rank[prefix .. name] = i
  end
  local best
  local f = io.open("/proc/kallsyms")
  if f then
    for line in f:lines() do
      local symbol = line:match("^%x+ %a ([%w_]+)$")
      if symbol and rank[symbol] and (not best or rank[symbol] < rank[best]) then
        best = symbol
      end
    end
    f:close()
  end
  return best or "sys_" .. name
end

return M
