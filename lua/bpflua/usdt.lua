-- USDT probes, as bcc's USDT class:
--
--   local u = BPF.USDT{path = "/usr/bin/python3.11"}     -- or {pid = 1234}, or both
--   u:enable_probe{probe = "gc__start", fn_name = "on_gc"}  -- or "python:gc__start"
--   local b = BPF{text = src, usdt_contexts = {u}}
--
-- and in the C: bpf_usdt_readarg(1, ctx, &v), bpf_usdt_readarg_p(1, ctx, buf, sizeof(buf)).
-- runtime/usdt.c reads the probes from the binaries' .note.stapsdt and decodes how each
-- location passes its arguments; BPF{} stores one spec per location in the program's
-- __bpflua_usdt_specs map and attaches a uprobe per location whose BPF cookie is the spec's
-- index (bpf/bpflua/usdt.h reads through it). A probe's semaphore is the uprobe's
-- ref_ctr_offset: the kernel counts it up while attached and down at detach.
local ffi = require("ffi")
local lifetime = require("bpflua.lifetime")
local lib = require("bpflua.cdefs")
local attach = require("bpflua.attach")

local M = {}

local USDT = {}
USDT.__index = USDT

local EM_X86_64, EM_AARCH64 = 62, 183
local MACHINES = {x86_64 = EM_X86_64, arm64 = EM_AARCH64, aarch64 = EM_AARCH64}
local ATTACH_UPROBE = lib.BPFLUA_ATTACH_UPROBE
local KIND_NAMES = {[0] = "const", "reg", "mem"}

local char_ptr_ptr = ffi.typeof("char *[1]")
local probes_ptr_type = ffi.typeof("struct bpflua_usdt_probes *")
local spec_key_type = ffi.typeof("uint32_t[1]")
local locations_type = ffi.typeof("struct bpflua_uprobe_location[?]")

local function c_error(err)
  local message = err[0] ~= nil and ffi.string(err[0]) or "unknown error"
  lib.bpflua_free(err[0])
  return message
end

-- The probes of one ELF file, collected with the file's notes (nil, message on failure).
local function load_probes(path)
  local err = char_ptr_ptr()
  local p = lib.bpflua_usdt_probes_load(path, err)
  if p == nil then
    return nil, c_error(err)
  end
  return ffi.gc(ffi.cast(probes_ptr_type, p), lib.bpflua_usdt_probes_free)
end

-- "8@%rdi -4@[sp, 16]" -> {"8@%rdi", "-4@[sp, 16]"}: spaces inside brackets belong to an
-- argument.
local function split_args(text)
  local args, depth, current = {}, 0, {}
  for c in text:gmatch(".") do
    if c == " " and depth == 0 then
      if #current > 0 then
        args[#args + 1] = table.concat(current)
        current = {}
      end
    else
      if c == "[" or c == "(" then
        depth = depth + 1
      elseif (c == "]" or c == ")") and depth > 0 then
        depth = depth - 1
      end
      current[#current + 1] = c
    end
  end
  if #current > 0 then
    args[#args + 1] = table.concat(current)
  end
  return args
end

-- bcc's rule for a binary named without a "/": an executable on PATH, else a library.
local function resolve_path(path, what)
  if path:find("/", 1, true) then
    return path
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local candidate = dir .. "/" .. path
    local f = io.open(candidate, "rb")
    if f then
      f:close()
      return candidate
    end
  end
  local ok, found = pcall(attach.find_library, path)
  if not ok then
    error(string.format("%s: no program '%s' on PATH and no library of that name in the loader's " ..
      "cache (give a path)", what, path), 3)
  end
  return found
end

-- The files a process has mapped executable, its own program first (what bcc searches for
-- a USDT context given only a pid).
local function process_binaries(pid)
  local maps = io.open("/proc/" .. pid .. "/maps")
  if not maps then
    error("USDT: no process " .. tostring(pid), 4)
  end
  local seen, list = {}, {}
  for line in maps:lines() do
    local perms, path = line:match("^%S+%s+(%S+)%s+%S+%s+%S+%s+%d+%s+(/.+)$")
    if perms and perms:sub(3, 3) == "x" and not seen[path] and not path:find(" (deleted)", 1, true) then
      seen[path] = true
      list[#list + 1] = path
    end
  end
  maps:close()
  return list
end

-- A probe as Lua values: what listings show.
local function describe(probes, probe)
  local locations = {}
  for i = 0, probe.nlocations - 1 do
    local loc = probe.locations[i]
    locations[#locations + 1] = {
      address = tonumber(loc.address),
      offset = tonumber(loc.offset),
      args = split_args(ffi.string(loc.args)),
      error = loc.spec_error ~= nil and ffi.string(loc.spec_error) or nil,
    }
  end
  local first = probe.locations[0]
  return {
    path = ffi.string(probes.path),
    provider = ffi.string(probe.provider),
    name = ffi.string(probe.name),
    semaphore = first.semaphore ~= 0 and tonumber(first.semaphore) or nil,
    semaphore_offset = first.semaphore ~= 0 and tonumber(first.semaphore_offset) or nil,
    nlocations = probe.nlocations,
    args = locations[1].args,
    locations = locations,
  }
end

-- BPF.usdt_probes(path_or_pid): every probe of a binary (or of every binary a process has
-- mapped), as tables {path, provider, name, semaphore, nlocations, args, locations}.
function M.probes(target)
  local paths
  if type(target) == "number" then
    paths = process_binaries(target)
  elseif type(target) == "string" then
    paths = {resolve_path(target, "usdt_probes")}
  else
    error("usdt_probes: expected a binary's path or a pid", 2)
  end
  local list = {}
  for _, path in ipairs(paths) do
    local probes, err = load_probes(path)
    if not probes and type(target) == "string" then
      error("usdt_probes: " .. err, 2)
    end
    if probes then
      for i = 0, probes.count - 1 do
        list[#list + 1] = describe(probes, probes.probes[i])
      end
    end
  end
  return list
end

-- Decodes one argument's text as a binary of that architecture ("x86_64" or "arm64") has it:
-- {kind = "const"|"reg"|"mem", size, signed, base, index, scale, offset, shift}; base and
-- index are offsets in the kernel's struct pt_regs.
function M.parse_arg(text, arch, symbols_path, probe_address)
  local machine = MACHINES[arch or "x86_64"]
  if not machine then
    error("usdt parse_arg: architecture must be x86_64 or arm64", 2)
  end
  local arg = ffi.new("struct bpflua_usdt_arg")
  local err = char_ptr_ptr()
  if lib.bpflua_usdt_arg_parse(machine, text, symbols_path, probe_address or 0, arg, err) ~= 0 then
    error(c_error(err), 2)
  end
  return {
    kind = KIND_NAMES[arg.kind], size = arg.size, signed = arg.is_signed == 1,
    base = arg.base_reg >= 0 and arg.base_reg or nil,
    index = arg.index_reg >= 0 and arg.index_reg or nil,
    scale = arg.scale ~= 0 and arg.scale or nil,
    offset = tonumber(arg.offset), shift = arg.reg_shift ~= 0 and arg.reg_shift or nil,
  }
end

-- ---- The USDT context -------------------------------------------------------------------

-- BPF.USDT{path = ..., pid = ...}: the probes of a binary (every process running it, or only
-- pid), or of everything process pid has mapped.
function M.new(opts)
  if type(opts) ~= "table" then
    error("USDT: expected a table of options, as in USDT{path = \"/usr/bin/python3\"} or USDT{pid = 1234}", 2)
  end
  for k in pairs(opts) do
    if k ~= "path" and k ~= "pid" then
      error("USDT: unknown option '" .. tostring(k) .. "' (options: path, pid)", 2)
    end
  end
  if opts.path == nil and opts.pid == nil then
    error("USDT: give path = \"binary\", pid = number, or both", 2)
  end
  if opts.pid ~= nil and type(opts.pid) ~= "number" then
    error("USDT: pid must be a number", 2)
  end
  local self = setmetatable({pid = opts.pid, _binaries = {}, _enabled = {}}, USDT)
  local paths
  if opts.path then
    paths = {resolve_path(opts.path, "USDT")}
  else
    paths = process_binaries(opts.pid)
  end
  for _, path in ipairs(paths) do
    -- A process's files as it sees them (its mount namespace: a container's root), by the
    -- path it mapped them at.
    local file = path
    if not opts.path and opts.pid then
      file = "/proc/" .. opts.pid .. "/root" .. path
    end
    local probes, err = load_probes(file)
    if not probes and opts.path then
      error("USDT: " .. err, 2)
    end
    if probes and probes.count > 0 then
      self._binaries[#self._binaries + 1] = {path = path, file = file, probes = probes}
    end
  end
  self.path = paths[1]
  return self
end

-- The binaries and probes that "provider:name" or "name" names.
function USDT:_find(spec)
  local provider, name = spec:match("^([^:]+):([^:]+)$")
  name = name or spec
  local found = {}
  for _, binary in ipairs(self._binaries) do
    for i = 0, binary.probes.count - 1 do
      local probe = binary.probes.probes[i]
      if ffi.string(probe.name) == name and (not provider or ffi.string(probe.provider) == provider) then
        found[#found + 1] = {binary = binary, probe = probe}
      end
    end
  end
  return found
end

-- u:enable_probe{probe = "function__entry", fn_name = "f"}: run f at each location of the
-- probe once the context is given to BPF{usdt_contexts = {u}}.
function USDT:enable_probe(args)
  if type(args) ~= "table" then
    error("enable_probe: expected a table of arguments, as in enable_probe{probe = \"name\", fn_name = \"f\"}", 2)
  end
  for k in pairs(args) do
    if k ~= "probe" and k ~= "fn_name" then
      error("enable_probe: unknown option '" .. tostring(k) .. "' (options: probe, fn_name)", 2)
    end
  end
  if type(args.probe) ~= "string" or type(args.fn_name) ~= "string" then
    error("enable_probe: give probe = \"[provider:]name\" and fn_name = \"function\"", 2)
  end
  local found = self:_find(args.probe)
  if #found == 0 then
    local names = {}
    for _, p in ipairs(M.probes_of(self)) do
      names[#names + 1] = p
    end
    error(string.format("enable_probe: no USDT probe '%s' in %s (it has: %s)", args.probe,
      self.path or ("process " .. tostring(self.pid)), #names > 0 and table.concat(names, ", ") or "no probes"), 2)
  end
  for _, f in ipairs(found) do
    for i = 0, f.probe.nlocations - 1 do
      local loc = f.probe.locations[i]
      if loc.spec_error ~= nil then
        error("enable_probe: " .. args.probe .. ": " .. ffi.string(loc.spec_error), 2)
      end
    end
  end
  self._enabled[#self._enabled + 1] = {probe = args.probe, fn_name = args.fn_name, found = found}
end

-- bcc's enable_probe_or_bail(probe, fn_name): as enable_probe, but prints the reason and
-- exits the program on failure.
function USDT:enable_probe_or_bail(probe, fn_name)
  local ok, err = pcall(self.enable_probe, self, {probe = probe, fn_name = fn_name})
  if not ok then
    io.stderr:write(tostring(err), "\n")
    os.exit(1)
  end
end

-- "provider:name" of every probe in the context.
function M.probes_of(self)
  local names = {}
  for _, binary in ipairs(self._binaries) do
    for i = 0, binary.probes.count - 1 do
      local p = binary.probes.probes[i]
      names[#names + 1] = ffi.string(p.provider) .. ":" .. ffi.string(p.name)
    end
  end
  return names
end

function USDT:__tostring()
  return string.format("<USDT %s%s: %d probes enabled>", self.path or "",
    self.pid and (" pid " .. self.pid) or "", #self._enabled)
end

-- Called by BPF{} once the program is loaded: fills the spec map and attaches every enabled
-- probe of every context. On error the caller cleans the object up.
function M.attach_contexts(b, contexts)
  local obj = lib.bpflua_object_bpf(b._handle)
  local map = lib.bpf_object__find_map_by_name(obj, "__bpflua_usdt_specs")
  if map == nil then
    error("BPF: the program has no USDT spec table (bpflua/usdt.h was not included)", 0)
  end
  local fd = lib.bpf_map__fd(map)
  local capacity = lib.bpf_map__max_entries(map)
  local next_spec = 0
  local key = spec_key_type()
  for _, u in ipairs(contexts) do
    if getmetatable(u) ~= USDT then
      error("BPF: usdt_contexts must hold USDT objects (BPF.USDT{...})", 0)
    end
    for _, enabled in ipairs(u._enabled) do
      for _, f in ipairs(enabled.found) do
        local n = f.probe.nlocations
        if next_spec + n > capacity then
          error(string.format("BPF: more than %d USDT locations enabled", capacity), 0)
        end
        local locations = locations_type(n)
        for i = 0, n - 1 do
          local loc = f.probe.locations[i]
          key[0] = next_spec
          if lib.bpf_map_update_elem(fd, key, loc.spec, 0) ~= 0 then
            error("BPF: cannot store a USDT argument spec: " .. ffi.string(lib.strerror(ffi.errno())), 0)
          end
          locations[i].offset = loc.offset
          locations[i].ref_ctr_offset = loc.semaphore_offset
          locations[i].cookie = next_spec
          next_spec = next_spec + 1
        end
        local probe_name = ffi.string(f.probe.provider) .. ":" .. ffi.string(f.probe.name)
        local opts = ffi.new("struct bpflua_attach_opts", {
          fn_name = enabled.fn_name, kind = ATTACH_UPROBE, target = f.binary.file,
          pid = u.pid or -1, locations = locations, nlocations = n,
        })
        local err = char_ptr_ptr()
        local handle = lib.bpflua_attach(b._handle, opts, err)
        if handle == nil then
          error("USDT probe " .. probe_name .. ": " .. c_error(err), 0)
        end
        local attach_key = string.format("uprobe:usdt:%s:%s:%s", f.binary.path, probe_name,
          tostring(u.pid or -1))
        -- owned by the object, as its other attachments (bpflua/lifetime.lua)
        local close = lifetime.once(lib.bpflua_attachment_close)
        handle = ffi.gc(handle, close)
        b._state:own(handle, close)
        local list = b._attachments[attach_key] or {}
        list[#list + 1] = handle
        b._attachments[attach_key] = list
      end
    end
  end
end

M.USDT = USDT
return setmetatable(M, {__call = function(_, opts) return M.new(opts) end})
