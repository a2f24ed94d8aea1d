-- Lua objects for BPF key/value maps: b["name"]. Keys and values are FFI types written from
-- the object's BTF (bpflua/btf.lua); integer values come back as Lua numbers, others as
-- cdata copies. Keys may be Lua numbers, Lua tables of fields ({pid = 1, comm = "x"}) or
-- cdata. Per-CPU maps give a Lua list of one value per possible CPU.
--
-- Whole-table reads (items, keys, values, len, clear) go through the kernel's batch commands
-- where the map type has them (bpflua/batch.lua), else walk the map one key at a time.
-- Indexing works as bcc's b["t"][k]: t[k] reads (nil when absent), t[k] = v writes, t[k] = nil
-- deletes (zeroes, for arrays); string keys are the table's methods and fields, so keys that
-- are strings (char arrays) go through get/set/delete.
--
-- Fields a caller may look at or set:
--   t.use_batch   true; false forces the one-key-at-a-time walk (the kernel's refusal of a
--                 batch read sets it false too)
--   t.batch_size  entries per batch read; doubles when a hash bucket does not fit
--   t.read_calls  {lookup_batch = n, get_next_key = n}: the read commands issued so far
--                 (lookup_batch counts both batch commands)
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local batch = require("bpflua.batch")
local btf_types = require("bpflua.btf")
local ctypes = require("bpflua.ctypes")
local histogram = require("bpflua.histogram")
local errors = require("bpflua.errors")

local ENOENT, E2BIG, EINVAL = 2, 7, 22
local BPF_ANY = 0

local bytes_t = ffi.typeof("uint8_t[?]")
local lookup_batch = lib.bpf_map_lookup_batch
local lookup_and_delete_batch = lib.bpf_map_lookup_and_delete_batch

-- What an iterator returns.
local ITEMS, KEYS, VALUES = 1, 2, 3

local percpu_types = {percpu_hash = true, percpu_array = true, lru_percpu_hash = true}
local array_types = {array = true, percpu_array = true}

local Table = {}

-- Strings name methods and fields; any other key (a number, a table of fields, cdata) is a
-- key of the map. The instance's own fields are found before this is called.
function Table.__index(self, key)
  if type(key) == "string" then
    return Table[key]
  end
  return Table.get(self, key)
end

function Table.__newindex(self, key, value)
  if type(key) == "string" then
    rawset(self, key, value)
  elseif value ~= nil then
    Table.set(self, key, value)
  elseif array_types[rawget(self, "type")] then
    -- an array's entries cannot go: bcc's del t[k] zeroes them
    Table.set(self, key, rawget(self, "_value_is_number") and 0 or self.Leaf())
  else
    Table.delete(self, key)
  end
end

-- A map's type as libbpf names it ("hash", "percpu_array", "ringbuf"...): the numbers are the
-- kernel's, and libbpf knows them.
function Table.map_type(map)
  local t = lib.bpf_map__type(map)
  local name = lib.libbpf_bpf_map_type_str(t)
  return name ~= nil and ffi.string(name) or tostring(t)
end

local function errno_message(what, name)
  return string.format("%s on table '%s' failed: %s", what, name, errors.errno_text())
end

-- The range of an integer ctype (nil for others); 64-bit bounds are the doubles nearest.
local function integer_range(ctype)
  local size = ffi.sizeof(ctype)
  if not size or size > 8 or not pcall(ffi.cast, ctype, 0) or not pcall(ffi.new, ctype, 1) then
    return nil
  end
  local ok, minus_one = pcall(function() return tonumber(ffi.cast(ctype, -1)) end)
  if not ok or type(minus_one) ~= "number" then
    return nil
  end
  if minus_one < 0 then
    return -2 ^ (size * 8 - 1), 2 ^ (size * 8 - 1) - 1
  end
  return 0, 2 ^ (size * 8) - 1
end

function Table.new(owner, map)
  local btf = lib.bpf_object__btf(lib.bpflua_object_bpf(owner._handle))
  local key_decl, key_is_number, key_fields = "uint32_t", true, {}
  local value_decl = "uint8_t[" .. lib.bpf_map__value_size(map) .. "]"
  local type_name = Table.map_type(map)
  if type_name == "stack_trace" then
    -- The kernel takes no BTF value type for stack maps; their values are return addresses.
    value_decl = "uint64_t[" .. lib.bpf_map__value_size(map) / 8 .. "]"
  end
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
  local value_fields = {}
  if btf ~= nil and lib.bpf_map__btf_value_type_id(map) ~= 0 then
    value_fields = btf_types.field_names(btf, lib.bpf_map__btf_value_type_id(map))
  end
  local self = setmetatable({
    _owner = owner,
    _state = owner._state,
    name = ffi.string(lib.bpf_map__name(map)),
    fd = lib.bpf_map__fd(map),
    type = type_name,
    max_entries = lib.bpf_map__max_entries(map),
    histogram = is_histogram,
    Key = key_type.value,
    key_fields = key_fields,
    Leaf = value_type.value,
    value_fields = value_fields,
    _key_is_number = key_is_number,
    _value_is_number = value_is_number,
    _KeyBox = ffi.typeof(ctypes.array_of(key_type.name, 1)),
    _KeyArray = ffi.typeof(ctypes.array_of(key_type.name, "?")),
    use_batch = true,
    read_calls = {lookup_batch = 0, get_next_key = 0},
    -- Whoever reads with the table's own batch (see take_batch), held weakly: an iterator
    -- left with break lets go of the batch when it is collected.
    _batch_holder = setmetatable({}, {__mode = "v"}),
  }, Table)
  -- A per-CPU map reads and writes one value per possible CPU, each rounded up to 8 bytes.
  -- (On a one-CPU machine too: the rounding and the list do not depend on the count.)
  self._percpu = percpu_types[type_name] == true
  self._ncpus = self._percpu and lib.libbpf_num_possible_cpus() or 1
  self._stride = self._percpu and math.ceil(ffi.sizeof(self.Leaf) / 8) * 8 or ffi.sizeof(self.Leaf)
  local leaf_box = ctypes.array_of(value_type.name, 1)
  -- A pointer to a box of one value: p[0][0] is the value, whatever its type.
  self._LeafPtr = ffi.typeof((leaf_box:gsub("^([^%[]*)", "%1(*)", 1)))
  self._entry_bytes = self._stride * self._ncpus
  -- Numbers outside a key's or value's integer type are errors rather than wrapped or
  -- saturated as a C conversion would (-1 for a u64 stored 2^63, for a u32 2^32 - 1);
  -- 64-bit integers beyond 2^53 come back as uint64_t/int64_t cdata, which a Lua number
  -- would round.
  self._key_min, self._key_max = integer_range(self.Key)
  self._value_min, self._value_max = integer_range(self.Leaf)
  self._key_wide = key_is_number and ffi.sizeof(self.Key) == 8
  self._value_wide = value_is_number and ffi.sizeof(self.Leaf) == 8
  self._values = bytes_t(self._entry_bytes)
  self._key = self._KeyBox()
  self.batch_size = batch.default_size(self)
  return self
end

function Table:_check_open()
  if self._state.closed then
    errors.raise("table '" .. self.name .. "' belongs to a BPF object that was cleaned up")
  end
end

local function describe_number(n)
  return n % 1 == 0 and math.abs(n) < 2 ^ 63 and string.format("%d", n) or tostring(n)
end

-- n as an integer of a table's key or value type, or an error saying why it is none.
local function check_integer(self, n, min, max, what)
  if min and (n ~= n or n % 1 ~= 0 or n < min or n > max) then
    errors.raise(string.format("table '%s': %s %s is not an integer from %s to %s (the %s type is %s)",
      self.name, what, describe_number(n), describe_number(min), describe_number(max), what,
      tostring(what == "key" and self.Key or self.Leaf):match("^ctype<(.*)>$")))
  end
  return n
end

-- A table of fields for a record type: every name must be one of the record's.
local function check_fields(self, t, ctype, names, what)
  for k in pairs(t) do
    if type(k) ~= "string" or not ffi.offsetof(ctype, k) then
      errors.raise(string.format("table '%s': the %s has no field '%s' (its fields: %s)", self.name,
        what, tostring(k), #names > 0 and table.concat(names, ", ") or "none, it is not a struct"))
    end
  end
  return t
end

-- A pointer to the key: a Lua number, a table of fields, or cdata of the key type.
function Table:_key_of(key)
  local kind = type(key)
  if kind == "number" then
    self._key[0] = check_integer(self, key, self._key_min, self._key_max, "key")
  elseif kind == "table" then
    self._key[0] = ffi.new(self.Key, check_fields(self, key, self.Key, self.key_fields, "key"))
  elseif kind == "cdata" then
    self._key[0] = key
  else
    errors.raise(string.format("table '%s': a key is a number, a table of fields or cdata, not %s",
      self.name, key == nil and "nil" or "a " .. kind))
  end
  return self._key
end

-- A value to store: numbers checked against the value type, tables of fields against it.
local function value_in(self, v)
  local kind = type(v)
  if kind == "number" then
    return check_integer(self, v, self._value_min, self._value_max, "value")
  elseif kind == "table" then
    return ffi.new(self.Leaf, check_fields(self, v, self.Leaf, self.value_fields, "value"))
  elseif kind == "cdata" or kind == "string" then
    return v
  end
  errors.raise(string.format("table '%s': a value is a number, a table of fields or cdata, not %s",
    self.name, v == nil and "nil" or "a " .. kind))
end

-- A 64-bit integer as a Lua number when one holds it exactly, else as the cdata.
local function number_of(v)
  local n = tonumber(v)
  if n >= 2 ^ 53 or n <= -2 ^ 53 then
    return v
  end
  return n
end

local function read_value(self, buf, cpu)
  local p = ffi.cast(self._LeafPtr, buf + cpu * self._stride)
  if self._value_is_number then
    if self._value_wide then
      return number_of(p[0][0])
    end
    return tonumber(p[0][0])
  end
  -- A cdata of the value type, not an element of a box: an element is a reference, which
  -- does not keep its box alive once the caller holds it alone.
  local copy = self.Leaf()
  ffi.copy(copy, p, ffi.sizeof(self.Leaf))
  return copy
end

local function value_out(self, buf)
  if not self._percpu then
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
    errors.raise(errno_message("get", self.name))
  end
  return value_out(self, self._values)
end

-- The key's text for a message.
local function key_text(self, key)
  if type(key) == "number" then
    return describe_number(key)
  end
  return tostring(key)
end

-- Writes value at key (for per-CPU maps, value goes to every CPU, or give a list of one
-- value per possible CPU).
function Table:set(key, value)
  self:_check_open()
  local per_cpu_list = self._percpu and type(value) == "table" and #value > 0
  if per_cpu_list and #value ~= self._ncpus then
    errors.raise(string.format("table '%s' is per-CPU: give one value for every CPU, or a list " ..
      "of %d values (one per possible CPU), not %d", self.name, self._ncpus, #value))
  end
  for cpu = 0, self._ncpus - 1 do
    local v = per_cpu_list and value[cpu + 1] or value
    local p = ffi.cast(self._LeafPtr, self._values + cpu * self._stride)
    p[0][0] = value_in(self, v)
  end
  if lib.bpf_map_update_elem(self.fd, self:_key_of(key), self._values, BPF_ANY) ~= 0 then
    local errno = ffi.errno()
    if errno == E2BIG and array_types[self.type] then
      errors.raise(string.format("table '%s': index %s out of range 0..%d", self.name,
        key_text(self, key), self.max_entries - 1))
    elseif errno == E2BIG then
      errors.raise(string.format("table '%s' is full (max_entries %d)", self.name, self.max_entries))
    end
    errors.raise(errno_message("set", self.name))
  end
end

-- Returns true when there was an entry to delete.
function Table:delete(key)
  self:_check_open()
  if lib.bpf_map_delete_elem(self.fd, self:_key_of(key)) ~= 0 then
    local errno = ffi.errno()
    if errno == ENOENT then
      return false
    elseif errno == EINVAL and array_types[self.type] then
      errors.raise(string.format("table '%s' is an array: its entries cannot be deleted " ..
        "(set them to zero, or zero() the table)", self.name))
    end
    errors.raise(errno_message("delete", self.name))
  end
  return true
end

-- The key at keys[i] (an array of keys) as a Lua number or a cdata copy (of the key type
-- itself, as read_value makes them).
local function key_at(self, keys, i)
  if self._key_is_number then
    if self._key_wide then
      return number_of(keys[i])
    end
    return tonumber(keys[i])
  end
  local copy = self.Key()
  ffi.copy(copy, keys + i, ffi.sizeof(self.Key))
  return copy
end

-- The table's batch for a pass over the map, unless a pass that has not ended holds it (a
-- loop over the table inside another, or one left with break and not yet collected): then a
-- batch of the pass's own.
local function take_batch(self)
  if self._batch_holder[1] ~= nil then
    return batch.new(self, self.batch_size)
  end
  if self._batch == nil or self._batch.size ~= self.batch_size then
    self._batch = batch.new(self, self.batch_size)
  end
  self._batch:rewind()
  return self._batch
end

-- A batch holding the first run of entries read with read, and their number; nil when the
-- kernel has no batch reads for this map type (or use_batch is off).
local function first_batch(self, read)
  if not self.use_batch then
    return nil
  end
  local b = take_batch(self)
  local n = b:fill(read)
  if n == nil then
    if read == lookup_batch then
      self.use_batch = false
    end
    return nil
  end
  return b, n
end

-- The iterator behind items/keys/values over batches: serves entries from the batch in hand
-- and reads the next batch when it runs out.
local function iterate_batches(self, b, n, read, what)
  local i, finished = 0, false
  local iterator
  iterator = function()
    if i == n then
      if finished then
        return nil
      end
      n, i = b:fill(read), 0
      if n == 0 then
        finished = true
        if self._batch_holder[1] == iterator then
          self._batch_holder[1] = nil
        end
        return nil
      end
    end
    local at = i
    i = i + 1
    if what == KEYS then
      return key_at(self, b.keys, at)
    end
    local value = value_out(self, b.values + at * self._entry_bytes)
    if what == VALUES then
      return value
    end
    return key_at(self, b.keys, at), value
  end
  if b == self._batch then
    self._batch_holder[1] = iterator
  end
  return iterator
end

-- The iterator walking the map with get_next_key + lookup, two commands per entry.
local function iterate_one_by_one(self, what)
  local key, values = self._KeyBox(), bytes_t(self._entry_bytes)
  local first = true
  return function()
    while true do
      local prev = not first and key or nil
      first = false
      self.read_calls.get_next_key = self.read_calls.get_next_key + 1
      if lib.bpf_map_get_next_key(self.fd, prev, key) ~= 0 then
        return nil
      end
      -- An entry deleted between the two calls is skipped.
      if lib.bpf_map_lookup_elem(self.fd, key, values) == 0 then
        if what == KEYS then
          return key_at(self, key, 0)
        end
        local value = value_out(self, values)
        if what == VALUES then
          return value
        end
        return key_at(self, key, 0), value
      end
    end
  end
end

local function iterate(self, what)
  self:_check_open()
  local b, n = first_batch(self, lookup_batch)
  if b then
    return iterate_batches(self, b, n, lookup_batch, what)
  end
  return iterate_one_by_one(self, what)
end

-- for key, value in t:items() do ... end, in the kernel's iteration order. Keys and values
-- are the caller's to keep (numbers, or cdata copies). Not a snapshot: entries the BPF side
-- adds or deletes meanwhile may or may not show.
function Table:items()
  return iterate(self, ITEMS)
end

function Table:keys()
  return iterate(self, KEYS)
end

function Table:values()
  return iterate(self, VALUES)
end

-- As items(), deleting each entry it reads (hash maps; as bcc's method of the same name).
-- The kernel deletes a batch as it reads it: entries read but not iterated are gone too.
function Table:items_lookup_and_delete_batch()
  self:_check_open()
  local b, n = first_batch(self, lookup_and_delete_batch)
  if not b then
    errors.raise(string.format("table '%s' (%s) cannot be read and deleted in batches%s", self.name,
      self.type, self.use_batch and " by this kernel" or " (use_batch is false)"))
  end
  return iterate_batches(self, b, n, lookup_and_delete_batch, ITEMS)
end

-- The number of entries (for arrays, every slot counts).
function Table:len()
  self:_check_open()
  local b, n = first_batch(self, lookup_batch)
  local total = 0
  if b then
    while n > 0 do
      total = total + n
      n = b:fill(lookup_batch)
    end
    return total
  end
  for _ in iterate_one_by_one(self, KEYS) do
    total = total + 1
  end
  return total
end

-- Deletes every entry (arrays cannot lose entries: use zero).
function Table:clear()
  self:_check_open()
  if array_types[self.type] then
    errors.raise(string.format("table '%s' is an array: arrays cannot be cleared, use zero()",
      self.name))
  end
  local b, n = first_batch(self, lookup_and_delete_batch)
  if b then
    while n > 0 do
      n = b:fill(lookup_and_delete_batch)
    end
    return
  end
  -- Without batches the keys are taken first and then deleted: restarting from the first
  -- key after each delete would never end while probes keep inserting (syscount counting
  -- its own bpf() calls, say). Entries inserted meanwhile stay, as in bcc.
  local keys = {}
  for k in self:keys() do
    keys[#keys + 1] = k
  end
  for _, k in ipairs(keys) do
    if lib.bpf_map_delete_elem(self.fd, self:_key_of(k)) ~= 0 and ffi.errno() ~= ENOENT then
      errors.raise(errno_message("clear", self.name))
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
    errors.raise("table '" .. self.name .. "' is not a per-CPU map")
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

-- bcc's print_json_hist: one JSON object a line (one per section for a struct key), with
-- bcc's keys: ts, val_type, data = [{interval-start, interval-end, count}...], and the
-- section's value under section_header.
function Table:print_json_hist(val_type, section_header, section_print_fn, bucket_fn)
  self:_check_open()
  histogram.print_json_hist(self, val_type, section_header, section_print_fn, bucket_fn)
end

-- Entries for people (bpflua/table_view.lua):
--   t:top(n[, by])      the n entries ranked highest, as {key =, value =, total =}: by the
--                       value (summed over CPUs), a field of the value, or by(key, value)
--   t:print([n[, write]])  columns of keys and values, the first n (ranked when values are
--                       numbers); write receives each line (print by default)
--   t:to_json()         [{"key": ..., "value": ...}, ...] (needs lua-cjson)
local table_view -- required when first used: it requires modules that require this one

local function view()
  table_view = table_view or require("bpflua.table_view")
  return table_view
end

function Table:top(n, by)
  self:_check_open()
  return view().top(self, n, by)
end

function Table:print(n, write)
  self:_check_open()
  view().print(self, n, write)
end

function Table:to_json()
  self:_check_open()
  return view().to_json(self)
end

function Table:__tostring()
  return string.format("<BPF %s table '%s': key %s, value %s, %d entries max>", self.type,
    self.name, tostring(self.Key):match("<(.-)>") or "?", tostring(self.Leaf):match("<(.-)>") or "?",
    self.max_entries)
end

-- The REPL completes t:<Tab> from these: the __index function cannot be listed.
Table.__methods = {}
for name, fn in pairs(Table) do
  if type(fn) == "function" and not name:find("^_") and name ~= "new" and name ~= "map_type" then
    Table.__methods[name] = fn
  end
end

return Table
