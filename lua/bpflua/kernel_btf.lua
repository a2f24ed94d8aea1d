-- The running kernel's types, read from its BTF (/sys/kernel/btf/vmlinux, and the modules'
-- files beside it), for people: the REPL's struct("task_struct") prints a struct or union as
-- bpftrace -lv does, with each field's offset and size as pahole shows them.
--
--   kernel_btf.describe("task_struct")  -> the lines of the declaration, or nil and why
--   kernel_btf.record_names()           -> the names of every struct and union, sorted
--
-- The BTF is parsed once, when first asked for, and kept: the vmlinux file is a few MB.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

ffi.cdef[[
struct bpflua_kbtf_member { uint32_t name_off; uint32_t type; uint32_t offset; };
struct bpflua_kbtf_param { uint32_t name_off; uint32_t type; };
]]
-- libbpf's, one by one: another module may have declared some of them already.
for _, declaration in ipairs{
  "struct btf_ext;",
  "struct btf *btf__parse(const char *path, struct btf_ext **btf_ext);",
  "struct btf *btf__parse_split(const char *path, struct btf *base_btf);",
  "uint32_t btf__type_cnt(const struct btf *btf);",
} do
  pcall(ffi.cdef, declaration)
end

local KIND_INT, KIND_PTR, KIND_ARRAY, KIND_STRUCT, KIND_UNION = 1, 2, 3, 4, 5
local KIND_ENUM, KIND_FWD, KIND_TYPEDEF, KIND_VOLATILE, KIND_CONST, KIND_RESTRICT = 6, 7, 8, 9, 10, 11
local KIND_FUNC_PROTO, KIND_FLOAT, KIND_TYPE_TAG, KIND_ENUM64 = 13, 16, 18, 19

local member_ptr = ffi.typeof("const struct bpflua_kbtf_member *")
local param_ptr = ffi.typeof("const struct bpflua_kbtf_param *")
local array_ptr = ffi.typeof("const struct btf_array *")

local BTF_DIR = "/sys/kernel/btf"

local function kind_of(t)
  return bit.band(bit.rshift(t.info, 24), 0x1f)
end

local function vlen(t)
  return bit.band(t.info, 0xffff)
end

local function kflag(t)
  return bit.rshift(t.info, 31) == 1
end

-- {btf =, name =} for vmlinux and then each module, parsed on first use.
local sources

local function load_sources()
  if sources then
    return sources
  end
  local base = lib.btf__parse(BTF_DIR .. "/vmlinux", nil)
  if base == nil then
    error("cannot read the kernel's BTF (" .. BTF_DIR .. "/vmlinux): " ..
      ffi.string(lib.strerror(ffi.errno())), 0)
  end
  sources = {{btf = base, name = "vmlinux"}}
  -- The loaded modules (/proc/modules) with BTF of their own, split from vmlinux's.
  local modules = io.open("/proc/modules")
  for line in modules and modules:lines() or function() end do
    local module = line:match("^([%w_]+) ")
    local btf = module and lib.btf__parse_split(BTF_DIR .. "/" .. module, base)
    if btf ~= nil and btf ~= false then
      sources[#sources + 1] = {btf = btf, name = module}
    end
  end
  if modules then
    modules:close()
  end
  return sources
end

local function name_of(btf, t)
  return ffi.string(lib.btf__name_by_offset(btf, t.name_off))
end

-- The C spelling of type id around a declarator ("x", "*x", "x[4]"), as a declaration reads.
local function declaration(btf, id, declarator)
  declarator = declarator or ""
  local function join(a, b)
    return b == "" and a or (a .. " " .. b)
  end
  if id == 0 then
    return join("void", declarator)
  end
  local t = lib.btf__type_by_id(btf, id)
  local kind = kind_of(t)
  local name = name_of(btf, t)
  if kind == KIND_INT or kind == KIND_FLOAT or kind == KIND_TYPEDEF then
    return join(name, declarator)
  elseif kind == KIND_STRUCT or kind == KIND_UNION or kind == KIND_FWD then
    local keyword = (kind == KIND_UNION or (kind == KIND_FWD and kflag(t))) and "union" or "struct"
    return join(keyword .. " " .. (name ~= "" and name or "{...}"), declarator)
  elseif kind == KIND_ENUM or kind == KIND_ENUM64 then
    return join("enum " .. (name ~= "" and name or "{...}"), declarator)
  elseif kind == KIND_PTR then
    local target = lib.btf__type_by_id(btf, t.size_or_type)
    local inner = "*" .. declarator
    if t.size_or_type ~= 0 and (kind_of(target) == KIND_ARRAY or kind_of(target) == KIND_FUNC_PROTO) then
      inner = "(" .. inner .. ")"
    end
    return declaration(btf, t.size_or_type, inner)
  elseif kind == KIND_ARRAY then
    local a = ffi.cast(array_ptr, t + 1)
    return declaration(btf, a.type, declarator .. "[" .. a.nelems .. "]")
  elseif kind == KIND_CONST or kind == KIND_VOLATILE or kind == KIND_RESTRICT then
    local qualifier = kind == KIND_CONST and "const" or kind == KIND_VOLATILE and "volatile" or "restrict"
    return qualifier .. " " .. declaration(btf, t.size_or_type, declarator)
  elseif kind == KIND_TYPE_TAG then
    return declaration(btf, t.size_or_type, declarator)
  elseif kind == KIND_FUNC_PROTO then
    local params = ffi.cast(param_ptr, t + 1)
    local list = {}
    for i = 0, vlen(t) - 1 do
      list[#list + 1] = params[i].type == 0 and "..." or declaration(btf, params[i].type)
    end
    return declaration(btf, t.size_or_type, declarator .. "(" .. (#list > 0 and table.concat(list, ", ") or "void") .. ")")
  end
  return join("?", declarator)
end

local function size_of(btf, id)
  local size = lib.btf__resolve_size(btf, id)
  return size >= 0 and tonumber(size) or nil
end

-- Appends the members of record t (at base_bits into the outer record) to lines.
local function add_members(lines, btf, t, base_bits, indent)
  local members = ffi.cast(member_ptr, t + 1)
  for i = 0, vlen(t) - 1 do
    local m = members[i]
    local bit_offset, bit_size = m.offset, 0
    if kflag(t) then
      bit_offset, bit_size = bit.band(m.offset, 0xffffff), bit.rshift(m.offset, 24)
    end
    bit_offset = base_bits + bit_offset
    local name = ffi.string(lib.btf__name_by_offset(btf, m.name_off))
    local member_type = lib.btf__type_by_id(btf, m.type)
    local member_kind = kind_of(member_type)
    local anonymous_record = name == "" and (member_kind == KIND_STRUCT or member_kind == KIND_UNION)
      and name_of(btf, member_type) == ""
    if anonymous_record then
      -- Anonymous structs and unions open in place, as in the kernel's source: their
      -- members are the outer record's.
      lines[#lines + 1] = {text = indent .. (member_kind == KIND_UNION and "union" or "struct") .. " {",
        offset = bit_offset, size = size_of(btf, m.type)}
      add_members(lines, btf, member_type, bit_offset, indent .. "    ")
      lines[#lines + 1] = {text = indent .. "};"}
    else
      local text = indent .. declaration(btf, m.type, name)
      if bit_size > 0 then
        text = text .. ":" .. bit_size
      end
      lines[#lines + 1] = {text = text .. ";", offset = bit_offset, bits = bit_size,
        size = bit_size == 0 and size_of(btf, m.type) or nil}
    end
  end
end

-- The struct or union called name ("task_struct", "struct task_struct", "union bpf_attr"):
-- btf, id and type, or nil.
local function find(name)
  local keyword, bare = name:match("^%s*(%a+)%s+([%w_]+)%s*$")
  if not keyword then
    bare = name:match("^%s*([%w_]+)%s*$")
  end
  if not bare or (keyword and keyword ~= "struct" and keyword ~= "union") then
    return nil
  end
  for _, source in ipairs(load_sources()) do
    local btf = source.btf
    -- A module's split BTF numbers its own types after vmlinux's: search its own range only.
    local first = source.name == "vmlinux" and 1 or lib.btf__type_cnt(sources[1].btf)
    for id = first, lib.btf__type_cnt(btf) - 1 do
      local t = lib.btf__type_by_id(btf, id)
      local kind = kind_of(t)
      if (kind == KIND_STRUCT and keyword ~= "union") or (kind == KIND_UNION and keyword ~= "struct") then
        if vlen(t) > 0 and name_of(btf, t) == bare then
          return btf, id, t, source.name
        end
      end
    end
  end
  return nil
end

-- The declaration of a struct or union as lines of text, each field with its offset and size
-- (bit offset and bits for bit fields); nil and a sentence when there is no such type.
function M.describe(name)
  local btf, id, t, module = find(name)
  if not btf then
    return nil, "no struct or union '" .. name .. "' in the kernel's BTF"
  end
  local keyword = kind_of(t) == KIND_UNION and "union" or "struct"
  local rows = {}
  add_members(rows, btf, t, 0, "    ")
  local width = 0
  for _, row in ipairs(rows) do
    width = math.max(width, #row.text)
  end
  width = math.min(width, 60)
  local lines = {string.format("%s %s {%s/* size %d%s */", keyword, name_of(btf, t),
    string.rep(" ", math.max(1, width - #keyword - #name_of(btf, t) - 3)), size_of(btf, id) or 0,
    module ~= "vmlinux" and (", module " .. module) or "")}
  for _, row in ipairs(rows) do
    local where = ""
    if row.offset then
      if row.bits and row.bits > 0 then
        where = string.format("/* %5d:%-2d %4s */", math.floor(row.offset / 8), row.offset % 8, row.bits .. "b")
      else
        where = string.format("/* %5d %7s */", math.floor(row.offset / 8), row.size or "?")
      end
    end
    lines[#lines + 1] = where == "" and row.text or
      (row.text .. string.rep(" ", math.max(1, width - #row.text + 1)) .. where)
  end
  lines[#lines + 1] = "};"
  return lines
end

local record_names

-- The names of the kernel's structs and unions (with members), sorted: for completion.
function M.record_names()
  if record_names then
    return record_names
  end
  local seen, names = {}, {}
  for _, source in ipairs(load_sources()) do
    local btf = source.btf
    local first = source.name == "vmlinux" and 1 or lib.btf__type_cnt(sources[1].btf)
    for id = first, lib.btf__type_cnt(btf) - 1 do
      local t = lib.btf__type_by_id(btf, id)
      local kind = kind_of(t)
      if (kind == KIND_STRUCT or kind == KIND_UNION) and vlen(t) > 0 then
        local name = name_of(btf, t)
        if name ~= "" and not seen[name] then
          seen[name] = true
          names[#names + 1] = name
        end
      end
    end
  end
  table.sort(names)
  record_names = names
  return names
end

return M
