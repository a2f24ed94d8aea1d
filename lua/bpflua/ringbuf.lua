-- Ring buffers from Lua: b["events"] for a BPF_RINGBUF_OUTPUT, and the poller that serves
-- every ring opened on a BPF object.
--
-- Records are consumed here, in Lua, straight from the ring's shared memory: an FFI callback
-- from libbpf's C consumer would cost a C->Lua transition per event (see docs/design.md).
-- runtime/ring_reader.c maps the ring (struct bpflua_ring_reader, the shape perf rings share):
-- the consumer position, which we write, the producer position, and the data pages, mapped
-- twice in a row so that a record that wraps is still contiguous. Each record has an 8-byte
-- header, a 32-bit length whose bit 31 says the producer is still writing it and bit 30 that
-- it was discarded, and records are 8-byte aligned. Memory order: memory_order.lua.
local ffi = require("ffi")
local bit = require("bit")
local lib = require("bpflua.cdefs")
local event_view = require("bpflua.event_view")
local memory_order = require("bpflua.memory_order")

local band, tobit = bit.band, bit.tobit
local load_acquire, load_acquire_s32 = memory_order.load_acquire, memory_order.load_acquire_s32
local store_release = memory_order.store_release

ffi.cdef[[
int epoll_create1(int flags);
int epoll_wait(int epfd, void *events, int maxevents, int timeout);
int close(int fd);
]]
if ffi.arch == "x64" then
  ffi.cdef[[
  struct bpflua_epoll_event { uint32_t events; uint64_t data; } __attribute__((packed));
  ]]
else
  ffi.cdef[[
  struct bpflua_epoll_event { uint32_t events; uint64_t data; };
  ]]
end
-- Under a name of bpflua's: the FFI keeps the first declaration of a C name, and a program
-- that embeds bpflua may declare epoll_ctl with its own struct epoll_event.
ffi.cdef[[
int bpflua_epoll_ctl(int epfd, int op, int fd, struct bpflua_epoll_event *event) __asm__("epoll_ctl");
]]

local EPOLL_CTL_ADD, EPOLLIN, EPOLL_CLOEXEC = 1, 1, 0x80000
local EINTR = 4
-- The header's length word is read as an int32_t, so that it stays an integer in the JIT
-- (a uint32_t load becomes a Lua number): the busy bit is its sign.
local DISCARDED, LENGTH = 0x40000000, 0x3fffffff
local HEADER = 8

local int32_ptr = ffi.typeof("const int32_t *")
local char_ptr_ptr = ffi.typeof("char *[1]")
local int32_cell = ffi.typeof("int32_t[1]")

local function errno_text()
  return ffi.string(ffi.C.strerror(ffi.errno()))
end

-- ---- One ring --------------------------------------------------------------------------

local RingBuf = {}
RingBuf.__index = RingBuf

function RingBuf.new(owner, map, event_info)
  local self = setmetatable({
    _owner = owner,
    name = ffi.string(lib.bpf_map__name(map)),
    fd = lib.bpf_map__fd(map),
    type = "ringbuf",
    size = lib.bpf_map__max_entries(map),
    _event_info = event_info,
  }, RingBuf)
  local obj = lib.bpflua_object_bpf(owner._handle)
  local drops = lib.bpf_object__find_map_by_name(obj, self.name .. "__bpflua_drops")
  self._drops_fd = drops ~= nil and lib.bpf_map__fd(drops) or -1
  return self
end

function RingBuf:_map()
  if self._reader then
    return
  end
  local err = char_ptr_ptr()
  local reader = lib.bpflua_ringbuf_open(self.fd, err)
  if reader == nil then
    local message = err[0] ~= nil and ffi.string(err[0]) or "out of memory"
    lib.bpflua_free(err[0])
    error("ring buffer '" .. self.name .. "': " .. message, 3)
  end
  -- A mapping holds the ring in the kernel: unmap it when the object is collected too.
  self._reader = ffi.gc(reader, lib.bpflua_ring_reader_close)
  self._consumer_pos = reader.consumer_pos
  self._producer_pos = reader.producer_pos
  self._data = reader.data
  self._mask = tonumber(reader.size) - 1
  self._done = int32_cell()
end

function RingBuf:_unmap()
  if self._reader then
    lib.bpflua_ring_reader_close(ffi.gc(self._reader, nil))
    self._reader = nil
  end
end

-- events:open_ring_buffer(function(ctx, data, size) ... end[, ctx]): from now on,
-- b:ring_buffer_poll() and b:ring_buffer_consume() call fn for each record of this ring.
function RingBuf:open_ring_buffer(fn, ctx)
  if type(fn) ~= "function" then
    error("open_ring_buffer: expected a function(ctx, data, size)", 2)
  end
  if self._owner._handle == nil then
    error("ring buffer '" .. self.name .. "' belongs to a BPF object that was cleaned up", 2)
  end
  self:_map()
  self._callback, self._ctx = fn, ctx
  self._owner:_ring_poller():add(self)
end

event_view.install(RingBuf, "ring buffer", function(name)
  return name .. ".ringbuf_output() or assigns " .. name .. ".ringbuf_reserve() to one"
end)

-- Records the BPF side could not write because the ring was full (ringbuf_output failing,
-- ringbuf_reserve returning NULL), summed over CPUs.
function RingBuf:dropped()
  if self._drops_fd < 0 then
    return 0
  end
  local ncpus = lib.libbpf_num_possible_cpus()
  local key, values = ffi.new("uint32_t[1]"), ffi.new("uint64_t[?]", ncpus)
  if lib.bpf_map_lookup_elem(self._drops_fd, key, values) ~= 0 then
    error("cannot read the drop count of ring buffer '" .. self.name .. "': " .. errno_text(), 2)
  end
  local total = 0
  for cpu = 0, ncpus - 1 do
    total = total + tonumber(values[cpu])
  end
  return total
end

function RingBuf:__tostring()
  return string.format("<BPF ring buffer '%s': %d bytes%s>", self.name, self.size,
    self._event_info and (", events " .. self._event_info.type_name) or "")
end

-- Consumes what one ring holds; returns the number of records handed to the callback and
-- whether the callback asked to stop (returned a negative number).
--
-- The consumer position is published once per batch (each snapshot of the producer
-- position), not per record: a record stays untouched by the producer until then, and
-- publishing before reading the producer position again keeps the kernel's wakeups right.
-- Within a batch the walk counts bytes as an integer (done, from the batch's start); the
-- position itself is a Lua number. ring._pending holds the batch's start and ring._done[0]
-- the bytes up to the end of the record being handed over, so that a callback that raises
-- still has its record counted as consumed by the next call.
local function consume_ring(ring)
  local consumer_pos, producer_pos = ring._consumer_pos, ring._producer_pos
  if ring._pending then
    store_release(consumer_pos, ring._pending + ring._done[0])
    ring._pending = nil
  end
  local data, mask, fn, ctx, done_cell = ring._data, ring._mask, ring._callback, ring._ctx,
    ring._done
  local cons = tonumber(consumer_pos[0])
  local n = 0
  while true do
    local prod = tonumber(load_acquire(producer_pos))
    if cons >= prod then
      return n, false
    end
    local available = tobit(prod - cons)
    local offset = band(cons, mask)
    local done = 0
    ring._pending = cons
    done_cell[0] = 0
    repeat
      local record = data + offset
      local len = load_acquire_s32(ffi.cast(int32_ptr, record))
      if len < 0 then
        break -- the busy bit: the producer has not committed it yet
      end
      local size = band(len, LENGTH)
      local total = band(size + HEADER + 7, -8)
      offset = band(offset + total, mask)
      done = tobit(done + total) -- tobit: an integer add in the JIT, not a float one
      if band(len, DISCARDED) == 0 then
        done_cell[0] = done
        local ret = fn(ctx, record + HEADER, size)
        n = n + 1
        if type(ret) == "number" and ret < 0 then
          store_release(consumer_pos, cons + done)
          ring._pending = nil
          return n, true
        end
      end
    until done >= available
    cons = cons + done
    store_release(consumer_pos, cons)
    ring._pending = nil
    if done < available then
      return n, false -- stopped at a record still being written
    end
  end
end

RingBuf._consume = consume_ring

-- ---- The rings of one BPF object ---------------------------------------------------------

-- A poller watches rings with epoll and consumes them: ring buffers here, and the per-CPU
-- rings of perf buffers (perfbuf.lua), which have the same fd, name, _consume and _unmap.

local Poller = {}
Poller.__index = Poller

function Poller.new()
  local epfd = ffi.C.epoll_create1(EPOLL_CLOEXEC)
  if epfd < 0 then
    error("cannot create an epoll instance: " .. errno_text(), 3)
  end
  -- The descriptor is closed when the poller is collected, if close() did not run.
  local owner = ffi.gc(ffi.new("int[1]", epfd), function(fd) ffi.C.close(fd[0]) end)
  return setmetatable({epfd = epfd, _epfd_owner = owner, rings = {},
                       _events = ffi.new("struct bpflua_epoll_event[8]")}, Poller)
end

function Poller:add(ring)
  for _, r in ipairs(self.rings) do
    if r == ring then
      return
    end
  end
  local ev = ffi.new("struct bpflua_epoll_event", {events = EPOLLIN, data = #self.rings})
  if ffi.C.bpflua_epoll_ctl(self.epfd, EPOLL_CTL_ADD, ring.fd, ev) ~= 0 then
    error("cannot watch '" .. ring.name .. "': " .. errno_text(), 3)
  end
  self.rings[#self.rings + 1] = ring
end

-- Consumes every ring without waiting; returns the number of records.
function Poller:consume()
  local total = 0
  for i = 1, #self.rings do
    local n, stop = self.rings[i]:_consume()
    total = total + n
    if stop then
      break
    end
  end
  return total
end

-- Waits up to timeout_ms (forever when nil or negative) for a ring to have records, then
-- consumes them all.
function Poller:poll(timeout_ms)
  local timeout = timeout_ms and math.floor(timeout_ms) or -1
  local n = ffi.C.epoll_wait(self.epfd, self._events, 8, timeout)
  if n < 0 then
    if lib.bpflua_interrupted() ~= 0 then
      error("interrupted", 3)
    end
    if ffi.errno() ~= EINTR then
      error("poll: epoll_wait failed: " .. errno_text(), 3)
    end
  end
  return self:consume()
end

function Poller:close()
  for _, ring in ipairs(self.rings) do
    ring:_unmap()
  end
  self.rings = {}
  if self.epfd >= 0 then
    ffi.gc(self._epfd_owner, nil)
    ffi.C.close(self.epfd)
    self.epfd = -1
  end
end

return {RingBuf = RingBuf, Poller = Poller}
