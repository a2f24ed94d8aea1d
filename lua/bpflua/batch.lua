-- Reading a table many entries per system call, with BPF_MAP_LOOKUP_BATCH (and its
-- _AND_DELETE twin): one call fills arrays of keys and values, where walking a map with
-- get_next_key + lookup costs two calls per entry. bpflua/table.lua builds items(), keys(),
-- values(), len() and clear() on this, and falls back to the one-by-one walk for map types
-- the kernel cannot read in batches.
--
-- A Batch is a cursor over one pass of a map: batch:fill(read) reads the next run of entries
-- into batch.keys / batch.values and returns how many it read (0 once the map is done).
local ffi = require("ffi")
local errors = require("bpflua.errors")

local ENOENT, ENOSPC, EINVAL, EOPNOTSUPP = 2, 28, 22, 95
-- The kernel's internal "operation not supported" (not in libc's errno.h): what a batch
-- command returns for a map type without batch operations (stack traces, tries, ...).
local ENOTSUPP = 524

-- How much memory a batch takes by default: enough entries per call that the system call
-- costs little per entry, small enough to keep for the table's life.
local DEFAULT_BATCH_BYTES = 64 * 1024

local bytes_t = ffi.typeof("uint8_t[?]")
local count_t = ffi.typeof("uint32_t[1]")
local opts_t = ffi.typeof("struct bpf_map_batch_opts")

-- Both batch commands take the same options: no flags (libbpf checks sz, as LIBBPF_OPTS sets it).
local batch_opts = opts_t({sz = ffi.sizeof(opts_t)})

local M = {}

-- True for the errors a batch command gives when the kernel has no batch support for the
-- map's type (or none at all, EINVAL on kernels older than 5.6).
function M.unsupported(err)
  return err == EINVAL or err == ENOTSUPP or err == EOPNOTSUPP
end

-- The number of entries a batch of a table holds by default.
function M.default_size(tbl)
  local per_entry = ffi.sizeof(tbl.Key) + tbl._entry_bytes
  return math.max(1, math.min(tbl.max_entries, math.floor(DEFAULT_BATCH_BYTES / per_entry)))
end

local Batch = {}
Batch.__index = Batch

-- Room for size entries of tbl: keys as an array of its key type, values as raw bytes laid
-- out as the kernel writes them (per-CPU values: one 8-byte-rounded slot per possible CPU).
local function allocate(self, size)
  self.size = size
  self.keys = self._tbl._KeyArray(size)
  self.values = bytes_t(size * self._tbl._entry_bytes)
end

function M.new(tbl, size)
  -- The position token between calls: a bucket number (u32) for hashes, the previous key
  -- for arrays; room for either.
  local token_bytes = math.max(ffi.sizeof(tbl.Key), 8)
  local self = setmetatable({
    _tbl = tbl,
    _token_in = bytes_t(token_bytes),
    _token_out = bytes_t(token_bytes),
    _token_bytes = token_bytes,
    _count = count_t(),
    _started = false,
    done = false,
  }, Batch)
  allocate(self, size)
  return self
end

-- Starts a new pass from the first entry of the map.
function Batch:rewind()
  self._started = false
  self.done = false
end

-- Reads the next run of entries with read (lib.bpf_map_lookup_batch or
-- lib.bpf_map_lookup_and_delete_batch). Returns the number of entries now in keys/values,
-- 0 when the pass is over, or nil and the errno when the kernel cannot do batches for this
-- map (only on the first call of a pass, so a caller can fall back before reading anything).
-- A hash bucket is never split between calls: when one holds more entries than the batch,
-- the kernel says ENOSPC and the batch doubles (and the table remembers the size).
function Batch:fill(read)
  if self.done then
    return 0
  end
  local tbl = self._tbl
  while true do
    self._count[0] = self.size
    local rc = read(tbl.fd, self._started and self._token_in or nil, self._token_out,
      self.keys, self.values, self._count, batch_opts)
    tbl.read_calls.lookup_batch = tbl.read_calls.lookup_batch + 1
    local err = rc < 0 and -rc or 0
    if err == 0 or err == ENOENT then
      -- ENOENT: the entries read are the map's last ones.
      self.done = err == ENOENT
      self._started = true
      ffi.copy(self._token_in, self._token_out, self._token_bytes)
      local n = self._count[0]
      if n == 0 then
        self.done = true
      end
      return n
    elseif err == ENOSPC and self._count[0] == 0 then
      allocate(self, self.size * 2)
      tbl.batch_size = math.max(tbl.batch_size, self.size)
    elseif not self._started and M.unsupported(err) then
      return nil, err
    else
      errors.raise(string.format("reading table '%s' in batches failed: %s", tbl.name,
        errors.strerror(err)))
    end
  end
end

return M
