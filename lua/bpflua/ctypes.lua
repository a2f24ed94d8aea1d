-- FFI types made from C declarations that bpflua writes: the events a ring buffer carries
-- (laid out by the compiler, runtime/event_types.cpp, and checked against its sizes and
-- offsets) and the keys and values of tables (from BTF, bpflua/btf.lua).
local ffi = require("ffi")

local M = {}

-- The records bpflua defines print their fields with tostring ({pid = 1, comm = "bash"}),
-- pointers to them too. pretty is required when first used: it requires the modules that
-- require this one.
local record_metatable = {
  __tostring = function(v)
    return require("bpflua.pretty").inline(v)
  end,
}

-- One named FFI struct per distinct declaration, shared by every object that uses it:
-- ffi.cdef cannot define a name twice, and a name lets the pointer and value types agree.
local by_declaration = {}
-- The declaration behind each record type defined here, by its ctype name: the FFI has no
-- reflection, and the REPL shows a struct's fields from these (M.fields).
local declarations = {}

-- An FNV-1a-style hash of the declaration's bytes (deterministic; only names depend on it).
local function hash(text)
  local h = 0x811c9dc5
  for i = 1, #text do
    h = bit.bxor(h, text:byte(i))
    h = bit.tobit(h * 0x01000193)
  end
  return bit.band(h, 0x7fffffff)
end

-- Returns {name =, value =, pointer =} for a declaration: a record gets a name of its own,
-- anything else is named by its declaration ("uint64_t", "char[16]").
function M.define(decl)
  local known = by_declaration[decl]
  if known then
    return known
  end
  local kind = decl:match("^(struct)%s") or decl:match("^(union)%s")
  local name, value, pointer
  if kind then
    -- The tag is made from the declaration, so that a module loaded afresh into the same
    -- Lua state (busted does that between spec files) finds the type it defined before.
    name = string.format("%s bpflua_type_%08x_%d", kind, hash(decl), #decl)
    if not pcall(ffi.typeof, name) then
      -- The tag goes after any attributes: "struct __attribute__((packed)) TAG { ... }".
      local brace = decl:find("{", 1, true)
      ffi.cdef(decl:sub(1, brace - 1) .. name:sub(#kind + 2) .. " " .. decl:sub(brace) .. ";")
      -- once, before any object of the type exists (a type defined earlier has its metatable)
      ffi.metatype(name, record_metatable)
    end
    value, pointer = ffi.typeof(name), ffi.typeof(name .. " *")
    declarations[name] = decl
  else
    name = decl
    value = ffi.typeof(decl)
    pointer = ffi.typeof(decl:find("%[") and decl:gsub("%[", "(*)[", 1) or decl .. " *")
  end
  known = {name = name, value = value, pointer = pointer}
  by_declaration[decl] = known
  return known
end

-- The name of an array of n elements of the named type: "uint8_t[40]" gives
-- "uint8_t[1][40]". Types are built from names, not with ffi.typeof("$[1]", T): busted
-- replaces ffi.typeof with a version that caches by the first argument alone, which makes
-- every "$[1]" the same type.
function M.array_of(name, n)
  local base, dims = name:match("^([^%[]*)(.*)$")
  return base .. "[" .. n .. "]" .. dims
end

-- ---- Reading the declarations back -----------------------------------------------------

-- The members of a record body ("a; struct { b; } c; d"), split at the top-level semicolons.
local function split_members(body)
  local members, depth, start = {}, 0, 1
  for i = 1, #body do
    local c = body:byte(i)
    if c == 123 or c == 40 then -- { (
      depth = depth + 1
    elseif c == 125 or c == 41 then -- } )
      depth = depth - 1
    elseif c == 59 and depth == 0 then -- ;
      members[#members + 1] = body:sub(start, i - 1)
      start = i + 1
    end
  end
  members[#members + 1] = body:sub(start)
  return members
end

-- The fields of a record declaration as {name =, type =, dims = {n...}, fields =}: type for
-- a scalar ("uint32_t", "char"), fields for a nested record. Padding bpflua adds is left out,
-- and the fields of an anonymous member count as the record's own, as C reads them.
local function parse_record(decl)
  local fields = {}
  local body = decl:match("%b{}")
  for _, member in ipairs(split_members(body:sub(2, -2))) do
    member = member:gsub("__attribute__%s*%b()", ""):gsub("^%s+", ""):gsub("%s+$", "")
    if member ~= "" then
      local record = member:find("{", 1, true) and parse_record(member)
      local declarator = (record and member:match("%b{}(.*)$") or member):gsub("%s*:%s*%d+$", "")
      local name, dims = declarator:match("([%a_][%w_]*)%s*([%[%]%d%s]*)$")
      if record and not name then
        for _, field in ipairs(record) do
          fields[#fields + 1] = field
        end
      elseif name and not name:find("^__pad_") and name ~= "__size" then
        local sizes = {}
        for n in dims:gmatch("%d+") do
          sizes[#sizes + 1] = tonumber(n)
        end
        fields[#fields + 1] = {
          name = name,
          type = not record and declarator:match("^(.-)%s*[%a_][%w_]*%s*[%[%]%d%s]*$") or nil,
          dims = #sizes > 0 and sizes or nil,
          fields = record or nil,
        }
      end
    end
  end
  return fields
end

local parsed = {}

-- The fields of a struct or union ctype that bpflua defined (a table's key or value, a
-- ring's event), or nil for any other ctype.
function M.fields(ctype)
  local name = tostring(ctype):match("^ctype<(%a+ bpflua_type_%x+_%d+)")
  local decl = name and declarations[name]
  if not decl then
    return nil
  end
  local fields = parsed[name]
  if not fields then
    fields = parse_record(decl)
    parsed[name] = fields
  end
  return fields
end

-- Parses the metadata lines "event\tRING\tSIZE\tTYPE\tDECL" and "field\tRING\tNAME\tOFFSET"
-- into {[ring] = {size =, type_name =, decl =, fields = {{name, offset}...}}}.
function M.parse(metadata)
  local rings = {}
  for line in metadata:gmatch("[^\n]+") do
    local parts = {}
    for part in (line .. "\t"):gmatch("([^\t]*)\t") do
      parts[#parts + 1] = part
    end
    if parts[1] == "event" then
      rings[parts[2]] = {size = tonumber(parts[3]), type_name = parts[4], decl = parts[5], fields = {}}
    elseif parts[1] == "field" and rings[parts[2]] then
      local fields = rings[parts[2]].fields
      fields[#fields + 1] = {parts[3], tonumber(parts[4])}
    end
  end
  return rings
end

-- The value and pointer ctypes for a ring's event; errors if the FFI would lay it out
-- differently from the BPF compiler.
function M.event_ctypes(ring_name, info)
  local t = M.define(info.decl)
  local size = ffi.sizeof(t.value)
  if size ~= info.size then
    error(string.format("bpflua: the FFI lays out %s (events of ring '%s') in %d bytes, the " ..
      "BPF compiler in %d; cast the data yourself with a matching ffi.cdef", info.type_name,
      ring_name, size, info.size), 0)
  end
  for _, field in ipairs(info.fields) do
    local offset = ffi.offsetof(t.value, field[1])
    if offset ~= field[2] then
      error(string.format("bpflua: the FFI puts %s.%s (events of ring '%s') at offset %s, " ..
        "the BPF compiler at %d", info.type_name, field[1], ring_name, tostring(offset),
        field[2]), 0)
    end
  end
  return t.value, t.pointer
end

return M
