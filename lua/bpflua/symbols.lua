-- Addresses to names, as bcc's BPF.ksym, BPF.ksymname and BPF.sym: kernel addresses through
-- /proc/kallsyms, user addresses through the process's /proc/PID/maps (cached per pid) and
-- the symbol tables of the mapped ELF files (cached per file, read with libelf).
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local errors = require("bpflua.errors")

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

-- name, name+0x1f, name [module], as bcc formats them.
local function describe(symbol, addr, show_module, show_offset, module)
  local text = ffi.string(symbol.name)
  if show_offset then
    text = text .. string.format("+0x%x", tonumber(addr - symbol.addr))
  end
  if show_module then
    text = text .. " [" .. module .. "]"
  end
  return text
end

-- ---- Kernel ---------------------------------------------------------------------------

local kernel_table

local function kernel_symbols()
  if not kernel_table then
    local message
    kernel_table, message = load_table(lib.bpflua_kernel_symbols_load)
    if not kernel_table then
      errors.raise(message)
    end
  end
  return kernel_table
end

-- The kernel function holding addr (a number or a uint64_t cdata, as walk() gives), or
-- "[unknown]".
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

function M.ksym(addr, show_module, show_offset)
  check_address("ksym", addr)
  local t = kernel_symbols()
  addr = ffi.cast(address_t, addr)
  local i = lib.bpflua_symbol_lookup(t, addr)
  if i < 0 then
    return "[unknown]"
  end
  local s = t.symbols[i]
  return describe(s, addr, show_module, show_offset, s.module ~= nil and ffi.string(s.module) or "kernel")
end

-- The address of a kernel symbol as a uint64_t cdata, or -1 when there is none.
function M.ksymname(name)
  if type(name) ~= "string" then
    errors.raise("ksymname: expected a kernel symbol's name, not " ..
      (name == nil and "nil" or "a " .. type(name)))
  end
  local t = kernel_symbols()
  local i = lib.bpflua_symbol_find(t, name)
  if i < 0 then
    return -1
  end
  return t.symbols[i].addr
end

-- ---- User space -------------------------------------------------------------------------

local elf_tables = {}   -- path -> symbol table, or false when it cannot be read
local process_maps = {} -- pid -> executable mappings sorted by start

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
    local start, stop, perms, offset, path = line:match("^(%x+)%-(%x+) (%S+) (%x+) %S+ %d+%s+(/.*)$")
    if start and perms:find("x", 1, true) then
      maps[#maps + 1] = {start = tonumber(start, 16), stop = tonumber(stop, 16),
                         offset = tonumber(offset, 16), path = path}
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

local function elf_symbols(pid, path)
  local t = elf_tables[path]
  if t == nil then
    -- The file as the process sees it, which differs from ours inside a container.
    local in_root = "/proc/" .. pid .. "/root" .. path
    local readable = io.open(in_root)
    if readable then
      readable:close()
    end
    local file = readable and in_root or path
    t = load_table(function(err) return lib.bpflua_elf_symbols_load(file, err) end)
    elf_tables[path] = t or false
  end
  return t or nil
end

-- The function of process pid holding the user-space addr, or "[unknown]"; a negative pid
-- means a kernel address. A mapping not yet cached (a library loaded since) re-reads the
-- process's maps once.
function M.sym(addr, pid, show_module, show_offset)
  if pid ~= nil and type(pid) ~= "number" then
    errors.raise("sym: pid must be a number, not a " .. type(pid))
  end
  if not pid or pid < 0 then
    return M.ksym(addr, show_module, show_offset)
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
  local t = elf_symbols(pid, m.path)
  if not t then
    return "[unknown]"
  end
  local vaddr = lib.bpflua_elf_offset_to_vaddr(t, addr - m.start + m.offset)
  local i = vaddr ~= NO_ADDRESS and lib.bpflua_symbol_lookup(t, vaddr) or -1
  if i < 0 then
    return "[unknown]"
  end
  return describe(t.symbols[i], vaddr, show_module, show_offset, m.path)
end

return M
