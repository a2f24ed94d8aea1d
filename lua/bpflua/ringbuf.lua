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
local errors = require("bpflua.errors")
local lifetime = require("bpflua.lifetime")

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
local int32_cell = ffi.typeof("int32_t[1]")

local errno_text = errors.errno_text

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
    _state = owner._state,
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
  local err = errors.message_ptr()
  local reader = lib.bpflua_ringbuf_open(self.fd, err)
  if reader == nil then
    errors.raise("ring buffer '" .. self.name .. "': " .. errors.take_c(err, "out of memory"))
  end
  -- A mapping holds the ring in the kernel: unmap it when the object is collected too (once:
  -- teardown may come first).
  self._close_reader = lifetime.once(lib.bpflua_ring_reader_close)
  self._reader = ffi.gc(reader, self._close_reader)
  self._consumer_pos = reader.consumer_pos
  self._producer_pos = reader.producer_pos
  self._data = reader.data
  self._mask = tonumber(reader.size) - 1
  self._done = int32_cell()
end

function RingBuf:_unmap()
  if self._reader then
    self._close_reader(ffi.gc(self._reader, nil))
    self._reader = nil
  end
end

-- events:open_ring_buffer(function(ctx, data, size) ... end[, ctx]): from now on,
-- b:ring_buffer_poll() and b:ring_buffer_consume() call fn for each record of this ring.
function RingBuf:open_ring_buffer(fn, ctx)
  if type(fn) ~= "function" then
    errors.raise("open_ring_buffer: expected a function(ctx, data, size)")
  end
  self:_check_open()
  local poller = self._owner:_poller("ring")
  self:_map()
  self._callback, self._ctx = fn, ctx
  self._closed = nil
  poller:add(self)
end

function RingBuf:_check_open()
  if self._state.closed then
    errors.raise("ring buffer '" .. self.name .. "' belongs to a BPF object that was cleaned up")
  end
end

event_view.install(RingBuf, "ring buffer", function(name)
  return name .. ".ringbuf_output() or assigns " .. name .. ".ringbuf_reserve() to one"
end)

-- Records the BPF side could not write because the ring was full (ringbuf_output failing,
-- ringbuf_reserve returning NULL), summed over CPUs.
function RingBuf:dropped()
  self:_check_open()
  if self._drops_fd < 0 then
    return 0
  end
  local ncpus = lib.libbpf_num_possible_cpus()
  local key, values = ffi.new("uint32_t[1]"), ffi.new("uint64_t[?]", ncpus)
  if lib.bpf_map_lookup_elem(self._drops_fd, key, values) ~= 0 then
    errors.raise("cannot read the drop count of ring buffer '" .. self.name .. "': " .. errno_text())
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
        -- _closed: the callback cleaned the object up; its poller unmaps after the walk.
        if (type(ret) == "number" and ret < 0) or ring._closed then
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
--
-- A callback may clean its object up (the walk stops after it, and the rings are unmapped
-- when the walk ends), but may not poll or consume the same poller again: the walk in
-- progress has not published its position, so a nested one would hand over the same
-- records again.

local Poller = {}
Poller.__index = Poller

local MAX_TIMEOUT_MS = 2 ^ 31 - 1

-- kind: "ring" or "perf", for messages. state: the owning object's lifetime state, which
-- stops the poller at teardown.
function Poller.new(state, kind)
  local epfd = ffi.C.epoll_create1(EPOLL_CLOEXEC)
  if epfd < 0 then
    errors.raise("cannot create an epoll instance: " .. errno_text())
  end
  -- The descriptor is closed when the poller is collected, if close() did not run.
  local close = lifetime.once(function(fd) ffi.C.close(fd[0]) end)
  local owner = ffi.gc(ffi.new("int[1]", epfd), close)
  local self = setmetatable({epfd = epfd, _epfd_owner = owner, _close_epfd = close, rings = {},
                             kind = kind or "ring",
                             _events = ffi.new("struct bpflua_epoll_event[8]")}, Poller)
  if state then
    state.pollers[self] = true
  end
  return self
end

function Poller:add(ring)
  for _, r in ipairs(self.rings) do
    if r == ring then
      return
    end
  end
  local ev = ffi.new("struct bpflua_epoll_event", {events = EPOLLIN, data = #self.rings})
  if ffi.C.bpflua_epoll_ctl(self.epfd, EPOLL_CTL_ADD, ring.fd, ev) ~= 0 then
    errors.raise("cannot watch '" .. ring.name .. "': " .. errno_text())
  end
  self.rings[#self.rings + 1] = ring
end

-- Whether this poller's consume is running further up this stack (only asked when the
-- flag says it may be: a callback that raised leaves the flag set without a walk going on).
local function walking(poller)
  local level = 3
  while true do
    local info = debug.getinfo(level, "f")
    if not info then
      return false
    end
    if info.func == Poller.consume and select(2, debug.getlocal(level, 1)) == poller then
      return true
    end
    level = level + 1
  end
end

-- Consumes every ring without waiting; returns the number of records.
function Poller:consume()
  if self._consuming and walking(self) then
    local name = self.kind == "ring" and "ring buffer" or "perf buffer"
    errors.raise(string.format("%s_buffer_poll/consume called from inside a %s callback " ..
      "(the records being handed over would come again)", self.kind, name))
  end
  if self.epfd < 0 then
    errors.raise("the " .. self.kind .. " buffers of this BPF object were cleaned up")
  end
  self._consuming = true
  local total = 0
  local rings = self.rings
  for i = 1, #rings do
    local n, stop = rings[i]:_consume()
    total = total + n
    if stop then
      break
    end
  end
  self._consuming = false
  if self._close_pending then
    self:_release()
  end
  return total
end

-- epoll's timeout from timeout_ms: nil, negative or too large for epoll waits forever (as
-- bcc does); fractions round down.
local function timeout_of(timeout_ms)
  if timeout_ms == nil then
    return -1
  end
  if type(timeout_ms) ~= "number" or timeout_ms ~= timeout_ms then
    errors.raise("poll: timeout_ms must be a number of milliseconds, not " .. tostring(timeout_ms))
  end
  if timeout_ms < 0 or timeout_ms > MAX_TIMEOUT_MS then
    return -1
  end
  return math.floor(timeout_ms)
end

-- Waits up to timeout_ms (forever when nil or negative) for a ring to have records, then
-- consumes them all.
function Poller:poll(timeout_ms)
  local timeout = timeout_of(timeout_ms)
  if self._consuming and walking(self) then
    return self:consume() -- raises the error for a nested call
  end
  local n = ffi.C.epoll_wait(self.epfd, self._events, 8, timeout)
  if n < 0 then
    if lib.bpflua_interrupted() ~= 0 then
      errors.interrupted(3)
    end
    if ffi.errno() ~= EINTR then
      errors.raise("poll: epoll_wait failed: " .. errno_text())
    end
  end
  return self:consume()
end

-- Stops the poller: its rings stop delivering at once and are unmapped, now or, from inside
-- a callback, when the walk in progress ends.
function Poller:close()
  for _, ring in ipairs(self.rings) do
    ring._closed = true
  end
  if self._consuming and walking(self) then
    self._close_pending = true
    return
  end
  self:_release()
end

function Poller:_release()
  self._close_pending = nil
  self._consuming = false
  for _, ring in ipairs(self.rings) do
    ring:_unmap()
  end
  self.rings = {}
  if self.epfd >= 0 then
    self._close_epfd(ffi.gc(self._epfd_owner, nil))
    self.epfd = -1
  end
end

return {RingBuf = RingBuf, Poller = Poller}
