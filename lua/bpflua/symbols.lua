-- Addresses to names, as bcc's BPF.ksym, BPF.ksymname and BPF.sym: kernel addresses through
-- /proc/kallsyms, user addresses through the process's /proc/PID/maps (cached per pid) and
-- the symbol tables of the mapped ELF files (cached per file, read with libelf, with the
-- separate debug file of a stripped one), or the process's perf map (/tmp/perf-PID.map,
-- written by JITs) for code outside any file. C++ and Rust names come demangled, modules
-- by their file's name ([libc.so.6]), as bcc prints them.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local errors = require("bpflua.errors")
local config = require("bpflua.config")
local perf_maps = require("bpflua.perf_maps")

local M = {}

local address_t = ffi.typeof("unsigned long long")
local NO_ADDRESS = address_t(-1)

-- A symbol table from load(err), freed when collected; nil and the message when there is
-- none to be had.
local function load_table(load)
  local err = errors.message_ptr()
  local t = load(err)
  if t == nil then
    return nil, errors.take_c(err, "cannot read symbols")
  end
  return ffi.gc(t, lib.bpflua_symbol_table_free)
end

-- What sym() does when its caller does not say (BPF.symbol_options changes it).
local defaults = {demangle = true, full_path = false}

-- ---- Demangling -------------------------------------------------------------------------

-- libbpflua-demangle's API (runtime/demangle.cpp; not libbpflua's, so not in bpflua.h). In
-- a pcall: a state that loads this module afresh (package.loaded cleared) has them already.
pcall(ffi.cdef, [[
char *bpflua_demangle(const char *name);
void bpflua_demangle_free(char *text);
]])

local demangler     -- libbpflua-demangle, loaded on the first mangled name; false if missing
local demangled = {} -- mangled name -> readable name

-- name readable (ns::Klass::method(int), core::ptr::drop_in_place<...>) when it is a mangled
-- C++ or Rust name, else name itself.
local function demangle(name)
  if not name:find("^_[ZR]") then
    return name
  end
  local text = demangled[name]
  if text then
    return text
  end
  if demangler == nil then
    local ok, library = pcall(ffi.load, config.demangler or "libbpflua-demangle.so")
    demangler = ok and library
  end
  text = name
  if demangler then
    local p = demangler.bpflua_demangle(name)
    if p ~= nil then
      text = ffi.string(p)
      demangler.bpflua_demangle_free(p)
    end
  end
  demangled[name] = text
  return text
end
M.demangle = demangle

-- name, name+0x1f, name [module], as bcc formats them.
local function describe(name, offset, module, show_module, show_offset)
  local text = name or "[unknown]"
  if show_offset and name then
    text = text .. string.format("+0x%x", tonumber(offset))
  end
  if show_module and module then
    text = text .. " [" .. module .. "]"
  end
  return text
end

-- ---- Kernel ---------------------------------------------------------------------------

local kernel_table
local missing_names = {} -- names ksymname did not find in kernel_table, even after a reload

local function kernel_symbols(reload)
  if not kernel_table or reload then
    local t, message = load_table(lib.bpflua_kernel_symbols_load)
    if not t then
      errors.raise(message)
    end
    kernel_table, missing_names = t, {}
  end
  return kernel_table
end

-- An address: a number or 64-bit integer cdata.
local function check_address(what, addr)
  if type(addr) == "number" then
    if addr ~= addr or addr < 0 or addr >= 2 ^ 64 then
      errors.raise(what .. ": not an address: " .. tostring(addr))
    end
  elseif type(addr) ~= "cdata" then
    errors.raise(what .. ": expected an address (a number or uint64_t cdata), not " ..
      (addr == nil and "nil" or "a " .. type(addr)))
  end
end

-- The kernel function holding addr (a number or a uint64_t cdata, as walk() gives): name,
-- name+0x1f, name [kernel] or name [module]; "[unknown]" below every symbol.
function M.ksym(addr, show_module, show_offset)
  check_address("ksym", addr)
  local t = kernel_symbols()
  addr = ffi.cast(address_t, addr)
  local i = lib.bpflua_symbol_lookup(t, addr)
  if i < 0 then
    return "[unknown]"
  end
  local s = t.symbols[i]
  return describe(ffi.string(s.name), addr - s.addr,
    s.module ~= nil and ffi.string(s.module) or "kernel", show_module, show_offset)
end

-- The address of a kernel symbol as a uint64_t cdata, or -1 when there is none.
function M.ksymname(name)
  if type(name) ~= "string" then
    errors.raise("ksymname: expected a kernel symbol's name, not " ..
      (name == nil and "nil" or "a " .. type(name)))
  end
  local t = kernel_symbols()
  local i = lib.bpflua_symbol_find(t, name)
  if i < 0 and not missing_names[name] then
    -- Loaded since the table was read (a module, a BPF program): read /proc/kallsyms again,
    -- once per missing name (~90 ms).
    t = kernel_symbols(true)
    i = lib.bpflua_symbol_find(t, name)
    missing_names[name] = i < 0 or nil
  end
  if i < 0 then
    return -1
  end
  return t.symbols[i].addr
end

-- ---- User space -------------------------------------------------------------------------

local elf_tables = {}   -- "dev:inode path" -> symbol table, or false when it cannot be read
local process_maps = {} -- pid -> executable mappings sorted by start

-- bcc's rule (bcc_mapping_is_file_backed) for mappings that hold no file: anonymous memory,
-- where JITs put code their perf map names.
local ANONYMOUS = {"^//anon", "^/dev/zero", "^/anon_hugepage", "^%[stack", "^/SYSV", "^%[heap%]",
  "^%[anon", "^%[uprobes%]", "^%[vsyscall%]"}

local function is_anonymous(path)
  if path == "" then
    return true
  end
  for _, p in ipairs(ANONYMOUS) do
    if path:find(p) then
      return true
    end
  end
  return false
end

local function read_maps(pid)
  local f = io.open("/proc/" .. pid .. "/maps")
  if not f then
    return nil
  end
  -- read, not lines(): a process gone since the open fails the read (ESRCH), which lines() raises
  local text = f:read("*a")
  f:close()
  if not text then
    return nil
  end
  local maps = {}
  for line in text:gmatch("[^\n]+") do
    local start, stop, perms, offset, dev, inode, path =
      line:match("^(%x+)%-(%x+) (%S+) (%x+) (%S+) (%d+)%s*(.-)$")
    if start and perms:find("x", 1, true) then
      local anonymous, vdso = is_anonymous(path), path == "[vdso]"
      if anonymous or vdso or path:sub(1, 1) == "/" then
        maps[#maps + 1] = {start = tonumber(start, 16), stop = tonumber(stop, 16),
                           offset = tonumber(offset, 16), path = path, anonymous = anonymous,
                           vdso = vdso, file = dev .. ":" .. inode .. " " .. path}
      end
    end
  end
  table.sort(maps, function(a, b) return a.start < b.start end)
  return maps
end

local function find_mapping(maps, addr)
  for _, m in ipairs(maps) do
    if addr >= m.start and addr < m.stop then
      return m
    end
  end
end

local function elf_symbols(pid, m)
  local t = elf_tables[m.file]
  if t == nil then
    -- The file as the process sees it, which differs from ours inside a container.
    local root = "/proc/" .. pid .. "/root"
    local readable = io.open(root .. m.path)
    if readable then
      readable:close()
    else
      root = ""
    end
    t = load_table(function(err) return lib.bpflua_elf_symbols_load_with_debug(root, m.path, err) end)
    elf_tables[m.file] = t or false
  end
  return t or nil
end

pcall(ffi.cdef, "unsigned long getauxval(unsigned long type);")
local AT_SYSINFO_EHDR = 33
local vdso_table -- the vDSO's symbols, false when there are none to be had

-- The vDSO's symbols (clock_gettime and the like, which run without entering the kernel): no
-- file holds it, and every process of this kernel has the same image, so read ours, as bcc.
local function vdso_symbols()
  if vdso_table == nil then
    vdso_table = false
    local base = ffi.C.getauxval(AT_SYSINFO_EHDR)
    local ours = base ~= 0 and read_maps("self") or {}
    for _, m in ipairs(ours) do
      if m.vdso then
        vdso_table = load_table(function(err)
          return lib.bpflua_elf_symbols_load_image(ffi.cast("const void *", base), m.stop - m.start, err)
        end) or false
      end
    end
  end
  return vdso_table or nil
end

local function basename(path)
  return path:match("([^/]*)$")
end

-- The name, the offset in it and the module of a user address: from the mapped file's
-- symbols, or from the process's perf map for anonymous memory (and for a file that has no
-- ELF symbols to read, such as a JIT's memfd).
local function resolve_user(pid, addr, m)
  local t
  if m.vdso then
    t = vdso_symbols()
  elseif not m.anonymous then
    t = elf_symbols(pid, m)
  end
  if t then
    local vaddr = lib.bpflua_elf_offset_to_vaddr(t, addr - m.start + m.offset)
    local i = vaddr ~= NO_ADDRESS and lib.bpflua_symbol_lookup(t, vaddr) or -1
    if i < 0 then
      return nil, vaddr ~= NO_ADDRESS and vaddr or nil, m.path
    end
    local s = t.symbols[i]
    return ffi.string(s.name), vaddr - s.addr, m.vdso and "vdso" or m.path
  end
  local name, offset, map_path = perf_maps.lookup(pid, addr)
  if name then
    return name, offset, map_path
  end
  return nil, nil, not m.anonymous and m.path or nil
end

-- Options from sym()'s arguments: bcc's positional (show_module, show_offset, demangle), or
-- one table {module =, offset =, demangle =, full_path =}.
local function sym_options(show_module, show_offset, demangle_names)
  if type(show_module) == "table" then
    local o = show_module
    return o.module, o.offset, o.demangle == nil and defaults.demangle or o.demangle,
      o.full_path == nil and defaults.full_path or o.full_path
  end
  if demangle_names == nil then
    demangle_names = defaults.demangle
  end
  return show_module, show_offset, demangle_names, defaults.full_path
end

-- The function of process pid holding the user-space addr, or "[unknown]"; a negative pid
-- means a kernel address. A mapping not yet cached (a library loaded since) re-reads the
-- process's maps once.
function M.sym(addr, pid, show_module, show_offset, demangle_names)
  if pid ~= nil and type(pid) ~= "number" then
    errors.raise("sym: pid must be a number, not a " .. type(pid))
  end
  local module_wanted, offset_wanted, demangling, full_path =
    sym_options(show_module, show_offset, demangle_names)
  if not pid or pid < 0 then
    return M.ksym(addr, module_wanted, offset_wanted)
  end
  check_address("sym", addr)
  addr = tonumber(addr)
  local maps = process_maps[pid]
  local m = maps and find_mapping(maps, addr)
  if not m then
    maps = read_maps(pid)
    process_maps[pid] = maps
    m = maps and find_mapping(maps, addr)
  end
  if not m then
    return "[unknown]"
  end
  local name, offset, module = resolve_user(pid, addr, m)
  if name and demangling then
    name = demangle(name)
  end
  if module and not full_path then
    module = basename(module)
  end
  return describe(name, offset, module, module_wanted, offset_wanted)
end

-- BPF.symbol_options{demangle = false, full_path = true}: what sym() does when its caller
-- does not say (demangled names and short module names at first). Returns the previous
-- options.
function M.options(opts)
  if type(opts) ~= "table" then
    errors.raise("symbol_options: expected a table such as {demangle = false, full_path = true}")
  end
  local previous = {demangle = defaults.demangle, full_path = defaults.full_path}
  for k, v in pairs(opts) do
    if defaults[k] == nil then
      errors.raise("symbol_options: unknown option '" .. tostring(k) ..
        "' (demangle and full_path are known)")
    end
    defaults[k] = not not v
  end
  return previous
end

return M
