-- A child process that the USDT specs drive: commands go to its stdin, what it prints goes to
-- a file that wait_for() reads until a line matches (or a timeout says the child is stuck).
local lib = require("bpflua.cdefs")

local Child = {}
Child.__index = Child

-- Starts cmd (a shell command) with its output in a temporary file.
function Child.start(cmd)
  local out = os.tmpname()
  local stdin = assert(io.popen(cmd .. " > " .. out .. " 2>&1", "w"))
  return setmetatable({stdin = stdin, out = out, seen = 0}, Child)
end

function Child:send(line)
  self.stdin:write(line, "\n")
  self.stdin:flush()
end

-- Waits for the next output line matching a Lua pattern; returns its captures.
function Child:wait_for(pattern, timeout)
  local deadline = os.time() + (timeout or 30)
  while true do
    local f = io.open(self.out)
    local n = 0
    for line in f:lines() do
      n = n + 1
      if n > self.seen and line:find(pattern) then
        self.seen = n
        f:close()
        return line:match(pattern)
      end
    end
    f:close()
    if os.time() > deadline then
      local text = io.open(self.out):read("*a")
      error("child did not print '" .. pattern .. "' in time; it printed:\n" .. text, 2)
    end
    lib.bpflua_sleep(0.01)
  end
end

-- The whole output so far.
function Child:output()
  local f = io.open(self.out)
  local text = f:read("*a")
  f:close()
  return text
end

-- Starts a shell command whose pid is known (it prints it first): for tools to stop with
-- SIGINT.
function Child.start_with_pid(cmd)
  local child = Child.start("{ echo pid $$; exec " .. cmd .. "; }")
  child.pid = tonumber(child:wait_for("^pid (%d+)"))
  return child
end

function Child:interrupt()
  os.execute("kill -INT " .. self.pid)
end

-- Closes stdin (the child ends at EOF) and waits for it; returns the output.
function Child:close()
  self.stdin:close()
  local text = self:output()
  os.remove(self.out)
  return text
end

-- Reads n bytes of process pid's memory at addr (through /proc/PID/mem).
function Child.read_memory(pid, addr, n)
  local f = assert(io.open("/proc/" .. pid .. "/mem", "rb"))
  f:seek("set", addr)
  local bytes = f:read(n)
  f:close()
  return bytes
end

return Child
