-- How ring buffers and perf buffers hand their records to Lua: as a pointer to the struct the
-- BPF source writes (its layout found in the C by runtime/event_types.cpp), or as a copy.
-- Both classes get the same methods from here; each says how its source writes records, for
-- the error when the source does not show a type.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")

local M = {}

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
