-- Lua objects for BPF key/value maps: b["name"]. Keys and values are FFI types written from
-- the object's BTF (bpflua/btf.lua); integer values come back as Lua numbers, others as
-- cdata copies. Keys may be Lua numbers, Lua tables of fields ({pid = 1, comm = "x"}) or
-- cdata. Per-CPU maps give a Lua list of one value per possible CPU.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local btf_types = require("bpflua.btf")
local ctypes = require("bpflua.ctypes")
local histogram = require("bpflua.histogram")

local ENOENT = 2
local BPF_ANY = 0

local map_type_names = {
  [1] = "hash", [2] = "array", [5] = "percpu_hash", [6] = "percpu_array",
  [9] = "lru_hash", [10] = "lru_percpu_hash", [27] = "ringbuf",
}
local percpu_types = {percpu_hash = true, percpu_array = true, lru_percpu_hash = true}

local Table = {}
Table.__index = Table

local function errno_message(what, name)
  return string.format("%s on table '%s' failed: %s", what, name,
    ffi.string(lib.strerror(ffi.errno())))
end

function Table.new(owner, map)
  local btf = lib.bpf_object__btf(lib.bpflua_object_bpf(owner._handle))
  local key_decl, key_is_number, key_fields = "uint32_t", true, {}
  local value_decl = "uint8_t[" .. lib.bpf_map__value_size(map) .. "]"
  local value_is_number, is_histogram = false, false
  if btf ~= nil and lib.bpf_map__btf_value_type_id(map) ~= 0 then
    -- BPF_HISTOGRAM's counts have a type name of their own (bpf/bpflua/tables.h).
    is_histogram = btf_types.typedef_name(btf, lib.bpf_map__btf_value_type_id(map)) ==
      "bpflua_histogram_count"
    key_decl, key_is_number = btf_types.declaration(btf, lib.bpf_map__btf_key_type_id(map))
    key_fields = btf_types.field_names(btf, lib.bpf_map__btf_key_type_id(map))
    value_decl, value_is_number = btf_types.declaration(btf, lib.bpf_map__btf_value_type_id(map))
  end
  local key_type, value_type = ctypes.define(key_decl), ctypes.define(value_decl)
  local type_name = map_type_names[lib.bpf_map__type(map)] or tostring(lib.bpf_map__type(map))
  local self = setmetatable({
    _owner = owner,
    name = ffi.string(lib.bpf_map__name(map)),
    fd = lib.bpf_map__fd(map),
    type = type_name,
    max_entries = lib.bpf_map__max_entries(map),
    histogram = is_histogram,
    Key = key_type.value,
    key_fields = key_fields,
    Leaf = value_type.value,
    _key_is_number = key_is_number,
    _value_is_number = value_is_number,
    _KeyBox = ffi.typeof(ctypes.array_of(key_type.name, 1)),
  }, Table)
  -- A per-CPU map reads and writes one value per possible CPU, each rounded up to 8 bytes.
  self._ncpus = percpu_types[type_name] and lib.libbpf_num_possible_cpus() or 1
  self._stride = self._ncpus > 1 and math.ceil(ffi.sizeof(self.Leaf) / 8) * 8 or ffi.sizeof(self.Leaf)
  local leaf_box = ctypes.array_of(value_type.name, 1)
  self._LeafBox = ffi.typeof(leaf_box)
  -- A pointer to a box of one value: p[0][0] is the value, whatever its type.
  self._LeafPtr = ffi.typeof((leaf_box:gsub("^([^%[]*)", "%1(*)", 1)))
  self._values = ffi.new("uint8_t[?]", self._stride * self._ncpus)
  self._key = self._KeyBox()
  return self
end

function Table:_check_open()
  if self._owner._handle == nil then
    error("table '" .. self.name .. "' belongs to a BPF object that was cleaned up", 3)
  end
end

-- A pointer to the key: a Lua number, a table of fields, or cdata of the key type.
function Table:_key_of(key)
  if type(key) == "number" then
    self._key[0] = key
    return self._key
  end
  self._key[0] = type(key) == "table" and ffi.new(self.Key, key) or key
  return self._key
end

local function read_value(self, buf, cpu)
  local p = ffi.cast(self._LeafPtr, buf + cpu * self._stride)
  if self._value_is_number then
    return tonumber(p[0][0])
  end
  local copy = self._LeafBox()
  ffi.copy(copy, p, ffi.sizeof(self.Leaf))
  return copy[0]
end

local function value_out(self, buf)
  if self._ncpus == 1 then
    return read_value(self, buf, 0)
  end
  local per_cpu = {}
  for cpu = 0, self._ncpus - 1 do
    per_cpu[cpu + 1] = read_value(self, buf, cpu)
  end
  return per_cpu
end

-- The value at key, or nil when the table has none there. For per-CPU maps, a list with the
-- value of each possible CPU (CPU n at index n + 1).
function Table:get(key)
  self:_check_open()
  if lib.bpf_map_lookup_elem(self.fd, self:_key_of(key), self._values) ~= 0 then
    if ffi.errno() == ENOENT then
      return nil
    end
    error(errno_message("get", self.name), 2)
  end
  return value_out(self, self._values)
end

-- Writes value at key (for per-CPU maps, value goes to every CPU, or give a list per CPU).
function Table:set(key, value)
  self:_check_open()
  for cpu = 0, self._ncpus - 1 do
    local v = type(value) == "table" and self._ncpus > 1 and value[cpu + 1] or value
    local p = ffi.cast(self._LeafPtr, self._values + cpu * self._stride)
    p[0][0] = type(v) == "table" and ffi.new(self.Leaf, v) or v
  end
  if lib.bpf_map_update_elem(self.fd, self:_key_of(key), self._values, BPF_ANY) ~= 0 then
    error(errno_message("set", self.name), 2)
  end
end

-- Returns true when there was an entry to delete.
function Table:delete(key)
  self:_check_open()
  if lib.bpf_map_delete_elem(self.fd, self:_key_of(key)) ~= 0 then
    if ffi.errno() == ENOENT then
      return false
    end
    error(errno_message("delete", self.name), 2)
  end
  return true
end

local function key_out(self, box)
  if self._key_is_number then
    return tonumber(box[0])
  end
  local copy = self._KeyBox()
  copy[0] = box[0]
  return copy[0]
end

-- for key, value in t:items() do ... end, in the kernel's iteration order.
function Table:items()
  self:_check_open()
  local key, values = self._KeyBox(), ffi.new("uint8_t[?]", self._stride * self._ncpus)
  local first = true
  return function()
    while true do
      local prev = not first and key or nil
      first = false
      if lib.bpf_map_get_next_key(self.fd, prev, key) ~= 0 then
        return nil
      end
      -- An entry deleted between the two calls is skipped.
      if lib.bpf_map_lookup_elem(self.fd, key, values) == 0 then
        return key_out(self, key), value_out(self, values)
      end
    end
  end
end

function Table:keys()
  local next_item = self:items()
  return function()
    return (next_item())
  end
end

function Table:values()
  local next_item = self:items()
  return function()
    local _, v = next_item()
    return v
  end
end

-- The number of entries (for arrays, every slot counts).
function Table:len()
  local n = 0
  for _ in self:keys() do
    n = n + 1
  end
  return n
end

-- Deletes every entry (arrays cannot lose entries: use zero).
function Table:clear()
  self:_check_open()
  local key = self._KeyBox()
  while lib.bpf_map_get_next_key(self.fd, nil, key) == 0 do
    if lib.bpf_map_delete_elem(self.fd, key) ~= 0 then
      error(errno_message("clear", self.name), 2)
    end
  end
end

-- Sets every value to zero, keeping the keys.
function Table:zero()
  self:_check_open()
  local keys = {}
  for k in self:keys() do
    keys[#keys + 1] = k
  end
  for _, k in ipairs(keys) do
    self:set(k, self._value_is_number and 0 or self.Leaf())
  end
end

-- Per-CPU maps: the sum, the largest and the average of a key's per-CPU values.
local function per_cpu(self, key, fold, start)
  local values = self:get(key)
  if values == nil then
    return nil
  end
  if type(values) ~= "table" then
    error("table '" .. self.name .. "' is not a per-CPU map", 3)
  end
  local acc = start
  for _, v in ipairs(values) do
    acc = fold(acc, v)
  end
  return acc, #values
end

function Table:sum(key)
  return (per_cpu(self, key, function(a, v) return a + v end, 0))
end

function Table:max(key)
  return (per_cpu(self, key, function(a, v) return math.max(a, v) end, -math.huge))
end

function Table:average(key)
  local total, n = per_cpu(self, key, function(a, v) return a + v end, 0)
  return total and total / n
end

-- Histograms, printed exactly as bcc prints them (see bpflua/histogram.lua):
--   t:print_log2_hist([val_type[, section_header[, section_print_fn[, bucket_fn[, strip_leading_zero]]]]])
--   t:print_linear_hist([val_type[, section_header[, section_print_fn[, bucket_fn]]]])
-- and t:buckets([bucket_fn]): {[slot] = count}, or {[bucket] = {[slot] = count}} for a struct key.
function Table:print_log2_hist(val_type, section_header, section_print_fn, bucket_fn, strip_leading_zero)
  self:_check_open()
  histogram.print_log2_hist(self, val_type, section_header, section_print_fn, bucket_fn,
    strip_leading_zero)
end

function Table:print_linear_hist(val_type, section_header, section_print_fn, bucket_fn)
  self:_check_open()
  histogram.print_linear_hist(self, val_type, section_header, section_print_fn, bucket_fn)
end

function Table:buckets(bucket_fn)
  self:_check_open()
  return (histogram.buckets(self, bucket_fn))
end

function Table:__tostring()
  return string.format("<BPF %s table '%s': key %s, value %s, %d entries max>", self.type,
    self.name, tostring(self.Key):match("<(.-)>") or "?", tostring(self.Leaf):match("<(.-)>") or "?",
    self.max_entries)
end

return Table
