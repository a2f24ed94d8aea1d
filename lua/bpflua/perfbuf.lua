-- Perf buffers from Lua: b["events"] for a BPF_PERF_OUTPUT, as bcc's open_perf_buffer,
-- perf_buffer_poll and perf_buffer_consume.
--
-- Each CPU has its own ring (runtime/perf_output.c opens and maps it into the structure ring
-- buffers use, struct bpflua_ring_reader). As with ring buffers the records are read here, in
-- Lua, straight from the mapping, so that an event costs no C->Lua callback. The layout is
-- perf's: data_head (written by the kernel) and data_tail (written by us) are byte
-- positions in a power-of-two data area that is mapped once, so a record may wrap around its
-- end. Each record starts with struct perf_event_header; a sample carries a u32 size and the
-- bytes perf_submit wrote, a lost record the number of samples the kernel dropped because
-- the ring was full. Memory order: memory_order.lua.
local ffi = require("ffi")
local bit = require("bit")
local lib = require("bpflua.cdefs")
local event_view = require("bpflua.event_view")
local Poller = require("bpflua.ringbuf").Poller
local memory_order = require("bpflua.memory_order")

local band, bnot, tobit = bit.band, bit.bnot, bit.tobit
local load_acquire, store_release = memory_order.load_acquire, memory_order.store_release

-- type as an int32_t (its values are small), so that it stays an integer in the JIT: a
-- uint32_t load becomes a Lua number.
ffi.cdef[[
struct bpflua_perf_event_header { int32_t type; uint16_t misc; uint16_t size; };
]]

local PERF_RECORD_LOST, PERF_RECORD_SAMPLE = 2, 9
local SAMPLE_SIZE, SAMPLE_DATA = 8, 12  -- the u32 size and the data after the header
local LOST_COUNT = 16                   -- after the header and the u64 id
local ENODEV = 19
local MAX_RECORD = 65536                -- perf_event_header.size is 16 bits

local header_ptr = ffi.typeof("struct bpflua_perf_event_header *")
local uint32_ptr = ffi.typeof("const uint32_t *")
local uint64_ptr = ffi.typeof("uint64_t *")
local char_ptr_ptr = ffi.typeof("char *[1]")
local bytes_t = ffi.typeof("uint8_t[?]")
local int32_cell = ffi.typeof("int32_t[1]")

-- ---- One CPU's ring -------------------------------------------------------------------

local PerfRing = {}
PerfRing.__index = PerfRing

local function open_ring(buffer, cpu, page_cnt)
  local err = char_ptr_ptr()
  local handle = lib.bpflua_perf_ring_open(buffer.fd, cpu, page_cnt, err)
  if handle == nil then
    local errno = ffi.errno()
    local message = err[0] ~= nil and ffi.string(err[0]) or "cannot open a perf buffer"
    lib.bpflua_free(err[0])
    return nil, message, errno
  end
  handle = ffi.gc(handle, lib.bpflua_ring_reader_close)
  local size = tonumber(handle.size)
  return setmetatable({
    fd = handle.fd,
    cpu = cpu,
    name = string.format("perf buffer '%s' (CPU %d)", buffer.name, cpu),
    _handle = handle,
    _buffer = buffer,
    _head = handle.producer_pos,
    _tail = handle.consumer_pos,
    _data = handle.data,
    _size = size,
    _mask = size - 1,
    _done = int32_cell(),
  }, PerfRing)
end

-- Consumes what the ring holds; returns the number of samples handed to the callback and
-- whether the callback asked to stop (returned a negative number). data_tail is published
-- once per snapshot of data_head. Within a snapshot the walk counts bytes as an integer
-- (done) and carries the record's offset as one, so that the chain from one record to the
-- next stays in integer arithmetic; self._pending (the snapshot's start) and self._done[0]
-- keep a raising callback's record consumed.
function PerfRing:_consume()
  local head_pos, tail_pos = self._head, self._tail
  if self._pending then
    store_release(tail_pos, self._pending + self._done[0])
    self._pending = nil
  end
  local buffer = self._buffer
  local fn, cpu, done_cell = buffer._callback, self.cpu, self._done
  local data, mask, size, scratch = self._data, self._mask, self._size, buffer._scratch
  local beyond = bnot(mask) -- bits set in an offset at or past the end of the data area
  local tail = tonumber(tail_pos[0])
  local n = 0
  while true do
    local head = tonumber(load_acquire(head_pos))
    if tail >= head then
      return n, false
    end
    local available = tobit(head - tail)
    local offset = band(tail, mask)
    local done = 0
    self._pending = tail
    done_cell[0] = 0
    repeat
      local record = data + offset
      local header = ffi.cast(header_ptr, record)
      local len, kind = header.size, header.type
      if len == 0 then
        done = available -- never written by a sane kernel; skip the rest rather than spin
        break
      end
      local next_offset = tobit(offset + len)
      if band(next_offset - 1, beyond) ~= 0 then
        -- The record wraps around the end of the data area: read a contiguous copy.
        local first = size - offset
        ffi.copy(scratch, record, first)
        ffi.copy(scratch + first, data, len - first)
        record = scratch
      end
      offset = band(next_offset, mask)
      done = tobit(done + len) -- tobit: an integer add in the JIT, not a float one
      if kind == PERF_RECORD_SAMPLE then
        done_cell[0] = done
        local ret = fn(cpu, record + SAMPLE_DATA, ffi.cast(uint32_ptr, record + SAMPLE_SIZE)[0])
        n = n + 1
        if type(ret) == "number" and ret < 0 then
          store_release(tail_pos, tail + done)
          self._pending = nil
          return n, true
        end
      elseif kind == PERF_RECORD_LOST then
        done_cell[0] = done
        buffer:_note_lost(cpu, tonumber(ffi.cast(uint64_ptr, record + LOST_COUNT)[0]))
      end
    until done >= available
    tail = tail + done
    store_release(tail_pos, tail)
    self._pending = nil
  end
end

function PerfRing:_unmap()
  if self._handle then
    lib.bpflua_ring_reader_close(ffi.gc(self._handle, nil))
    self._handle = nil
  end
end

-- ---- The BPF_PERF_OUTPUT table --------------------------------------------------------

local PerfBuf = {}
PerfBuf.__index = PerfBuf

function PerfBuf.new(owner, map, event_info)
  return setmetatable({
    _owner = owner,
    name = ffi.string(lib.bpf_map__name(map)),
    fd = lib.bpf_map__fd(map),
    type = "perf_event_array",
    _event_info = event_info,
    _lost = 0,
  }, PerfBuf)
end

-- events:open_perf_buffer(function(cpu, data, size) ... end[, page_cnt[, lost_cb]]): from
-- now on b:perf_buffer_poll() and b:perf_buffer_consume() call fn for each sample.
-- page_cnt (default 8, a power of two) sizes each CPU's ring; lost_cb(count) hears of
-- samples the kernel dropped because a ring was full (without it, bcc's warning goes to
-- stderr). The arguments may also come as a table {callback =, page_cnt =, lost_cb =}.
function PerfBuf:open_perf_buffer(callback, page_cnt, lost_cb)
  if type(callback) == "table" then
    callback, page_cnt, lost_cb = callback.callback, callback.page_cnt, callback.lost_cb
  end
  if type(callback) ~= "function" then
    error("open_perf_buffer: expected a function(cpu, data, size)", 2)
  end
  if lost_cb ~= nil and type(lost_cb) ~= "function" then
    error("open_perf_buffer: lost_cb must be a function(count)", 2)
  end
  if self._owner._handle == nil then
    error("perf buffer '" .. self.name .. "' belongs to a BPF object that was cleaned up", 2)
  end
  if self._rings then
    error("open_perf_buffer: perf buffer '" .. self.name .. "' is already open", 2)
  end
  page_cnt = page_cnt or 8
  local rings = {}
  for cpu = 0, lib.libbpf_num_possible_cpus() - 1 do
    local ring, message, errno = open_ring(self, cpu, page_cnt)
    if ring then
      rings[#rings + 1] = ring
    elseif errno ~= ENODEV then -- ENODEV: a possible CPU that is offline
      for _, r in ipairs(rings) do
        r:_unmap()
      end
      error(message, 2)
    end
  end
  self._callback, self._lost_callback = callback, lost_cb
  self._scratch = bytes_t(MAX_RECORD)
  self._rings = rings
  local poller = self._owner:_perf_poller()
  for _, ring in ipairs(rings) do
    poller:add(ring)
  end
end

function PerfBuf:_note_lost(cpu, count)
  self._lost = self._lost + count
  if self._lost_callback then
    self._lost_callback(count)
  else
    io.stderr:write(string.format("Possibly lost %d samples\n", count))
  end
end

-- The number of samples the kernel reported lost since the buffer was opened.
function PerfBuf:lost()
  return self._lost
end

event_view.install(PerfBuf, "perf buffer", function(name) return name .. ".perf_submit()" end)

function PerfBuf:__tostring()
  return string.format("<BPF perf buffer '%s'%s%s>", self.name,
    self._rings and string.format(": open on %d CPUs", #self._rings) or "",
    self._event_info and (", events " .. self._event_info.type_name) or "")
end

return {PerfBuf = PerfBuf, Poller = Poller}
