-- Ring buffers from Lua: b["events"] for a BPF_RINGBUF_OUTPUT, and the poller that serves
-- every ring opened on a BPF object.
--
-- Records are consumed here, in Lua, straight from the ring's shared memory: an FFI callback
-- from libbpf's C consumer would cost a C->Lua transition per event (see docs/design.md). The
-- kernel's layout: a consumer page (the consumer position, which we write), then a producer
-- page (the producer position) followed by the data pages, mapped twice in a row so that a
-- record that wraps is still contiguous. Each record has an 8-byte header, a 32-bit length
-- whose bit 31 says the producer is still writing it and bit 30 that it was discarded, and
-- records are 8-byte aligned.
--
-- Memory order: on x86-64 (TSO) plain loads are acquires and plain stores releases, which is
-- what the protocol needs; the JIT does not cache the FFI load of the producer position
-- across the store to the consumer position (same type: they may alias). Other
-- architectures would need explicit barriers here.
local ffi = require("ffi")
local bit = require("bit")
local lib = require("bpflua.cdefs")
local event_view = require("bpflua.event_view")

local band = bit.band

ffi.cdef[[
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int munmap(void *addr, size_t length);
long sysconf(int name);
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

local PROT_READ, PROT_WRITE, MAP_SHARED = 1, 2, 1
local SC_PAGESIZE = 30
local EPOLL_CTL_ADD, EPOLLIN, EPOLL_CLOEXEC = 1, 1, 0x80000
local EINTR = 4
local BUSY, DISCARDED, LENGTH = 0x80000000, 0x40000000, 0x3fffffff
local HEADER = 8

local uint8_ptr = ffi.typeof("uint8_t *")
local uint32_ptr = ffi.typeof("const uint32_t *")
local uint64_ptr = ffi.typeof("uint64_t *")
local MAP_FAILED = ffi.cast("void *", -1)
local page_size = tonumber(ffi.C.sysconf(SC_PAGESIZE))

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
  if self._consumer then
    return
  end
  local consumer = ffi.C.mmap(nil, page_size, PROT_READ + PROT_WRITE, MAP_SHARED, self.fd, 0)
  if consumer == MAP_FAILED then
    error("cannot map ring buffer '" .. self.name .. "': " .. errno_text(), 3)
  end
  local producer_len = page_size + 2 * self.size
  local producer = ffi.C.mmap(nil, producer_len, PROT_READ, MAP_SHARED, self.fd, page_size)
  if producer == MAP_FAILED then
    ffi.C.munmap(consumer, page_size)
    error("cannot map ring buffer '" .. self.name .. "': " .. errno_text(), 3)
  end
  -- A mapping holds the ring in the kernel: unmap it when the object is collected too.
  self._consumer = ffi.gc(consumer, function(p) ffi.C.munmap(p, page_size) end)
  self._producer = ffi.gc(producer, function(p) ffi.C.munmap(p, producer_len) end)
  self._producer_len = producer_len
  self._consumer_pos = ffi.cast(uint64_ptr, consumer)
  self._producer_pos = ffi.cast(uint64_ptr, producer)
  self._data = ffi.cast(uint8_ptr, producer) + page_size
  self._mask = self.size - 1
end

function RingBuf:_unmap()
  if self._consumer then
    ffi.C.munmap(ffi.gc(self._consumer, nil), page_size)
    ffi.C.munmap(ffi.gc(self._producer, nil), self._producer_len)
    self._consumer, self._producer = nil, nil
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
-- ring._pending holds the position after the record being handed over, so that a callback
-- that raises still has its record counted as consumed by the next call.
local function consume_ring(ring)
  local consumer_pos, producer_pos = ring._consumer_pos, ring._producer_pos
  if ring._pending then
    consumer_pos[0] = ring._pending
    ring._pending = nil
  end
  local data, mask, fn, ctx = ring._data, ring._mask, ring._callback, ring._ctx
  local cons = tonumber(consumer_pos[0])
  local n = 0
  while true do
    local prod = tonumber(producer_pos[0])
    if cons >= prod then
      return n, false
    end
    -- The record's offset is carried as a 32-bit integer beside the position, so that the
    -- chain from one record to the next stays in integer arithmetic.
    local offset = band(cons, mask)
    repeat
      local record = data + offset
      local len = ffi.cast(uint32_ptr, record)[0]
      if band(len, BUSY) ~= 0 then
        break -- the producer has not committed it yet
      end
      local size = band(len, LENGTH)
      local total = band(size + HEADER + 7, -8)
      offset = band(offset + total, mask)
      cons = cons + total
      if band(len, DISCARDED) == 0 then
        ring._pending = cons
        local ret = fn(ctx, record + HEADER, size)
        n = n + 1
        if type(ret) == "number" and ret < 0 then
          consumer_pos[0] = cons
          ring._pending = nil
          return n, true
        end
      end
    until cons >= prod
    consumer_pos[0] = cons
    ring._pending = nil
    if cons < prod then
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
