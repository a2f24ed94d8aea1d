-- b["stacks"] for a BPF_STACK_TRACE: a table of stack id -> return addresses, with bcc's
-- walk(id). Everything else (get, items, delete, clear) is a table's.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local Table = require("bpflua.table")

local StackTrace = setmetatable({}, {__index = Table})
StackTrace.__index = StackTrace
StackTrace.__tostring = Table.__tostring

local frames_t = ffi.typeof("uint64_t[?]")
local function no_frames() return nil end

function StackTrace.new(owner, map)
  local self = setmetatable(Table.new(owner, map), StackTrace)
  self.depth = lib.bpf_map__value_size(map) / 8
  return self
end

-- for addr in stacks:walk(id) do ... end: the stack's return addresses, innermost first, as
-- uint64_t cdata (kernel addresses do not fit a Lua number). A negative id (get_stackid
-- failed) or one the table no longer holds walks nothing.
function StackTrace:walk(id)
  self:_check_open()
  local frames = frames_t(self.depth)
  if id < 0 or lib.bpf_map_lookup_elem(self.fd, ffi.new("uint32_t[1]", id), frames) ~= 0 then
    return no_frames
  end
  local i, depth = 0, self.depth
  return function()
    if i >= depth or frames[i] == 0 then
      return nil
    end
    i = i + 1
    return frames[i - 1]
  end
end

return StackTrace
