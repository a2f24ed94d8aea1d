-- Attach points by regular expression, as bcc's event_re/sym_re/tp_re: POSIX extended regular
-- expressions (regcomp/regexec from the C library), which match anywhere in the name unless
-- anchored with ^ and $. Lists of candidates: the kernel functions a kprobe can take, the
-- tracepoints, a binary's functions.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

ffi.cdef[[
typedef struct { unsigned char opaque[64]; } bpflua_regex_t;
int regcomp(bpflua_regex_t *preg, const char *regex, int cflags);
int regexec(const bpflua_regex_t *preg, const char *string, size_t nmatch, void *pmatch, int eflags);
size_t regerror(int errcode, const bpflua_regex_t *preg, char *errbuf, size_t errbuf_size);
void regfree(bpflua_regex_t *preg);
]]

local M = {}

local REG_EXTENDED, REG_NOSUB = 1, 8

-- A compiled expression: a function name -> boolean. Errors name the expression and why.
function M.compile(re, what)
  if type(re) ~= "string" then
    error((what or "pattern") .. ": expected a regular expression string", 3)
  end
  -- glibc's regex_t is 64 bytes on 64-bit targets; the buffer is freed with regfree.
  local preg = ffi.new("bpflua_regex_t")
  local rc = ffi.C.regcomp(preg, re, REG_EXTENDED + REG_NOSUB)
  if rc ~= 0 then
    local buf = ffi.new("char[256]")
    ffi.C.regerror(rc, preg, buf, 256)
    error(string.format("%s: bad regular expression '%s': %s", what or "pattern", re, ffi.string(buf)), 3)
  end
  ffi.gc(preg, ffi.C.regfree)
  return function(name)
    return ffi.C.regexec(preg, name, 0, nil, 0) == 0
  end
end

local function tracefs_open(name)
  local path = require("bpflua.tracefs").path(name)
  return path and io.open(path)
end

-- Functions kprobes refuse (the kernel's blacklist), when debugfs shows it.
local function kprobe_blacklist()
  local set = {}
  local f = io.open("/sys/kernel/debug/kprobes/blacklist")
  if f then
    for line in f:lines() do
      local name = line:match("%s(%S+)$")
      if name then
        set[name] = true
      end
    end
    f:close()
  end
  return set
end

-- bcc's exclusions: compiler-split .cold parts, perf's own functions (probing them recurses),
-- static-call trampolines.
local function excluded(name)
  return name:find("%.cold") or name:find("^__perf") or name:find("^perf_") or
    name:find("^__SCT__") or name:find("^_kbl_addr_")
end

-- BPF.get_kprobe_functions(re): kernel functions matching re that a kprobe can take, from
-- tracefs's available_filter_functions (or /proc/kallsyms's text symbols where that file is
-- not readable), less the kprobe blacklist and bcc's exclusions. Sorted, without repeats.
function M.get_kprobe_functions(re, what)
  local match = M.compile(re, what or "get_kprobe_functions")
  local blacklist = kprobe_blacklist()
  local seen, names = {}, {}
  local function consider(name)
    if name and not seen[name] and not blacklist[name] and not excluded(name) and match(name) then
      seen[name] = true
      names[#names + 1] = name
    end
  end
  local f = tracefs_open("available_filter_functions")
  local ok = f and pcall(function()
    for line in f:lines() do
      consider(line:match("^(%S+)"))
    end
  end)
  if f then
    f:close()
  end
  if not ok then
    local kallsyms = io.open("/proc/kallsyms")
    if not kallsyms then
      error("get_kprobe_functions: cannot read available_filter_functions or /proc/kallsyms", 2)
    end
    for line in kallsyms:lines() do
      local name = line:match("^%x+ [tTwW] (%S+)")
      consider(name)
    end
    kallsyms:close()
  end
  table.sort(names)
  return names
end

-- The first of names (kernel function names, in order of preference) that a kprobe can
-- take, or nil: tools that probe a function the kernel renamed across versions. One pass
-- over the kernel's function list for all of them.
function M.first_kprobe_function(names)
  local probeable = {}
  for _, name in ipairs(M.get_kprobe_functions("^(" .. table.concat(names, "|") .. ")$")) do
    probeable[name] = true
  end
  for _, name in ipairs(names) do
    if probeable[name] then
      return name
    end
  end
end

-- BPF.get_tracepoints(re): "category:event" names matching re, sorted.
function M.get_tracepoints(re, what)
  local match = M.compile(re, what or "get_tracepoints")
  local f = tracefs_open("available_events")
  if not f then
    error("get_tracepoints: cannot read available_events in tracefs (/sys/kernel/tracing)", 2)
  end
  local names = {}
  for name in f:lines() do
    if match(name) then
      names[#names + 1] = name
    end
  end
  f:close()
  table.sort(names)
  return names
end

-- The function symbols of a binary matching re, one per address (aliases such as getpid and
-- __getpid share one; the first name in symbol order is kept): {{name, addr}, ...} by address.
function M.user_functions(path, re, what)
  local match = M.compile(re, what)
  local err = ffi.new("char *[1]")
  local t = lib.bpflua_elf_symbols_load(path, err)
  if t == nil then
    local message = ffi.string(err[0])
    lib.bpflua_free(err[0])
    error(what .. ": " .. message, 3)
  end
  -- Of aliases, the name with the fewest leading underscores (getpid over __getpid).
  local function better(a, b)
    local ua, ub = #a:match("^_*"), #b:match("^_*")
    if ua ~= ub then return ua < ub end
    if #a ~= #b then return #a < #b end
    return a < b
  end
  local by_addr, list = {}, {}
  for i = 0, t.count - 1 do
    local s = t.symbols[i]
    local name = ffi.string(s.name)
    local addr = tonumber(s.addr)
    if match(name) then
      local f = by_addr[addr]
      if not f then
        -- The file offset, where the uprobe goes: through the segment that loads addr.
        local offset = addr
        for j = 0, t.nsegments - 1 do
          local seg = t.segments[j]
          if addr >= seg.vaddr and addr < seg.vaddr + seg.filesz then
            offset = addr - tonumber(seg.vaddr) + tonumber(seg.offset)
          end
        end
        f = {name = name, addr = addr, offset = offset}
        by_addr[addr] = f
        list[#list + 1] = f
      elseif better(name, f.name) then
        f.name = name
      end
    end
  end
  lib.bpflua_symbol_table_free(t)
  table.sort(list, function(a, b) return a.addr < b.addr end)
  return list
end

-- BPF.get_user_functions(path, re): the names of those functions, sorted.
function M.get_user_functions(path, re)
  local path_ = require("bpflua.attach").find_library(path)
  local names = {}
  for _, f in ipairs(M.user_functions(path_, re, "get_user_functions")) do
    names[#names + 1] = f.name
  end
  table.sort(names)
  return names
end

return M
