-- A program in a real terminal, for the REPL specs: tmux on a private server (its own
-- socket, so no one's tmux is touched), keys typed with send-keys, the screen read back with
-- capture-pane. Expectations poll the screen until the text is there, never sleep blindly.
local h = require("spec.helpers")

local Terminal = {}
Terminal.__index = Terminal

local counter = 0

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

function Terminal:tmux(args)
  local out, err, status = h.run("tmux -L " .. self.socket .. " " .. args)
  if status ~= 0 then
    error("tmux " .. args .. " failed: " .. err, 2)
  end
  return out
end

-- Starts command (run by sh) in a 200x50 terminal. The pane outlives the program, so that
-- what it printed last can still be read.
function Terminal.start(command)
  counter = counter + 1
  local self = setmetatable({
    socket = string.format("bpflua-spec-%d-%d", h.getpid(), counter),
    config = os.tmpname(),
    seen = 0, -- lines of the screen that expectations have used up
  }, Terminal)
  h.write_file(self.config, "set-option -g remain-on-exit on\nset-option -g history-limit 10000\n")
  self:tmux("-f " .. self.config .. " new-session -d -s spec -x 200 -y 50 " .. shell_quote(command))
  return self
end

-- Types text as it is. tmux reads an argument that ends in ";" as the end of its command.
function Terminal:type(text)
  self:tmux("send-keys -t spec -l -- " .. shell_quote((text:gsub(";$", "\\;"))))
end

-- Presses keys by tmux's names: "Enter", "Tab", "Up", "C-c", "C-d".
function Terminal:press(...)
  self:tmux("send-keys -t spec " .. table.concat({...}, " "))
end

function Terminal:send(line)
  self:type(line)
  self:press("Enter")
end

function Terminal:lines()
  local text = self:tmux("capture-pane -p -J -S - -t spec")
  local lines = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    lines[#lines + 1] = line:gsub("%s+$", "")
  end
  return lines
end

function Terminal:screen()
  return table.concat(self:lines(), "\n")
end

-- Waits for a line matching the Lua pattern below the lines earlier expectations used, and
-- returns it; fails with the screen after timeout seconds (5 by default). capture-pane shows
-- tabs as spaces.
function Terminal:expect(pattern, timeout)
  local deadline = os.time() + (timeout or 5)
  repeat
    local lines = self:lines()
    for i = self.seen + 1, #lines do
      if lines[i]:find(pattern) then
        self.seen = i
        return lines[i], i
      end
    end
    sleep(0.05)
  until os.time() > deadline
  error("the terminal never showed " .. pattern .. "; it shows:\n" .. self:screen(), 2)
end

-- Waits until the line being edited (the last one on the screen) matches the pattern, for
-- what Tab and the history keys do to it.
function Terminal:expect_input(pattern, timeout)
  local deadline = os.time() + (timeout or 5)
  repeat
    local lines = self:lines()
    local last = #lines
    while last > 1 and lines[last] == "" do
      last = last - 1
    end
    if lines[last]:find(pattern) then
      self.seen = last
      return lines[last]
    end
    sleep(0.05)
  until os.time() > deadline
  error("the line being edited never matched " .. pattern .. "; the terminal shows:\n" ..
    self:screen(), 2)
end

-- The line after the one expect last matched, once it has appeared.
function Terminal:next_line()
  local lines
  for _ = 1, 100 do
    lines = self:lines()
    if lines[self.seen + 1] and lines[self.seen + 1] ~= "" then
      break
    end
    sleep(0.05)
  end
  return lines[self.seen + 1]
end

function Terminal:pid()
  return tonumber(self:tmux("display-message -p -t spec '#{pane_pid}'"))
end

-- Ends the tmux server and whatever still runs in it.
function Terminal:close()
  h.run("tmux -L " .. self.socket .. " kill-server")
  os.remove(self.config)
end

-- The bpflua REPL in a terminal, with HOME in a directory of its own (its history file goes
-- there) unless home is given, started with args. A shell waits for it and shows its exit
-- status: tmux itself does not always reap a program that exits (its SIGCHLD goes missing
-- here). The shell ignores Ctrl-C, which bpflua catches for itself.
function Terminal.start_repl(home, args)
  home = home or h.tmpdir()
  local term = Terminal.start("trap '' INT; env HOME=" .. home .. " bpflua " .. (args or "") ..
    "; echo \"[bpflua exited with $?]\"")
  term.home = home
  term:expect("help%(%) for help")
  return term
end

-- Closes a REPL's terminal and removes its home.
function Terminal:stop()
  self:close()
  os.execute("rm -rf " .. self.home)
end

return Terminal
