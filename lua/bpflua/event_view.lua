-- How ring buffers and perf buffers hand their records to Lua: as a pointer to the struct the
-- BPF source writes (its layout found in the C by runtime/event_types.cpp), or as a copy.
-- Both classes get the same methods from here; each says how its source writes records, for
-- the error when the source does not show a type.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")

local M = {}

local bit = require("bit")
local band, bxor, rshift = bit.band, bit.bxor, bit.rshift
local uint64_ptr = ffi.typeof("const uint64_t *")
local words_t = ffi.typeof("uint64_t[?]")
local STRING_SLOTS = 4096 -- a power of two

-- string_of(chars): the Lua string of a char array in an event (e.comm), from a cache of the
-- values seen before. ffi.string interns a new string for every event (strlen, hash, string
-- table); here an array of 8 or 16 bytes (TASK_COMM_LEN) is read as one or two 64-bit
-- words, hashed, and compared with the words behind the cached string: ~30% less than
-- ffi.string for repeated values (scripts/bench/string_of.lua). Other lengths go to
-- ffi.string. The result is an ordinary string; it outlives the event.
local function string_of(self, chars)
  local n = ffi.sizeof(chars)
  if n ~= 16 and n ~= 8 then
    return ffi.string(chars)
  end
  local strings = self._strings
  if not strings then
    strings = {}
    self._strings, self._string_words = strings, words_t(2 * STRING_SLOTS)
  end
  local w = ffi.cast(uint64_ptr, chars)
  local w0 = w[0]
  local w1 = n == 16 and w[1] or 0ULL
  local slot = tonumber(band(bxor(w0, rshift(w0, 29), w1 * 0x9E3779B1), STRING_SLOTS - 1))
  local words = self._string_words
  local s = strings[slot]
  if s and words[2 * slot] == w0 and words[2 * slot + 1] == w1 then
    return s
  end
  s = ffi.string(chars, n) -- up to the first NUL, as ffi.string(chars) would read it
  s = s:match("^[^%z]*")
  words[2 * slot], words[2 * slot + 1] = w0, w1
  strings[slot] = s
  return s
end

-- Adds event(data), copy(data), event_type() to class, whose objects have name and
-- _event_info (nil when the source shows no type). writer names the BPF call that writes
-- records ("ringbuf_output() or assigns NAME.ringbuf_reserve() to one", say).
function M.install(class, kind, writer)
  -- data as a pointer to the event struct. The pointer, like data, is valid only during the
  -- callback; use copy(data) to keep an event.
  function class:event(data)
    local pointer = self._event_pointer
    if not pointer then
      self:_resolve_event_type()
      pointer = self._event_pointer
    end
    return ffi.cast(pointer, data)
  end

  class.string_of = string_of

  -- A copy of the event at data that outlives the callback.
  function class:copy(data)
    self:_resolve_event_type()
    local value = self._event_value()
    ffi.copy(value, data, ffi.sizeof(value))
    return value
  end

  -- The event ctype (for ffi.new, ffi.sizeof ...).
  function class:event_type()
    self:_resolve_event_type()
    return self._event_value
  end

  function class:_resolve_event_type()
    if self._event_pointer then
      return
    end
    if not self._event_info then
      error(string.format("%s '%s': no event type is known, because the BPF source never " ..
        "passes a typed pointer to %s; ffi.cast data to your own ffi.cdef type", kind,
        self.name, writer(self.name)), 3)
    end
    self._event_value, self._event_pointer = ctypes.event_ctypes(self.name, self._event_info)
  end
end

return M
