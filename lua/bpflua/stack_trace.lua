-- b["stacks"] for a BPF_STACK_TRACE: a table of stack id -> return addresses, with bcc's
-- walk(id). Everything else (get, items, delete, clear, stacks[id]) is a table's.
local ffi = require("ffi")
local Table = require("bpflua.table")

local StackTrace = setmetatable({}, {__index = Table})
-- As a Table's: strings name methods, any other key is a stack id (stacks[id] is get(id)).
function StackTrace.__index(self, key)
  if type(key) == "string" then
    -- The REPL completes stacks:<Tab> from these: the __index function cannot be listed.
StackTrace.__methods = setmetatable({walk = StackTrace.walk}, {__index = Table.__methods})

return StackTrace[key]
  end
  return Table.get(self, key)
end
StackTrace.__newindex = Table.__newindex
StackTrace.__tostring = Table.__tostring

local function no_frames() return nil end

function StackTrace.new(owner, map)
  local self = setmetatable(Table.new(owner, map), StackTrace)
  -- The table's value type is the array of return addresses (see Table.new).
  self.depth = ffi.sizeof(self.Leaf) / 8
  return self
end

-- for addr in stacks:walk(id) do ... end: the stack's return addresses, innermost first, as
-- uint64_t cdata (kernel addresses do not fit a Lua number). A negative id (get_stackid
-- failed) or one the table no longer holds walks nothing.
function StackTrace:walk(id)
  local frames = id >= 0 and self:get(id)
  if not frames then
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

-- The REPL completes stacks:<Tab> from these: the __index function cannot be listed.
StackTrace.__methods = setmetatable({walk = StackTrace.walk}, {__index = Table.__methods})

return StackTrace
