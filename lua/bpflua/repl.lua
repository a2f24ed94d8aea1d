-- The interactive REPL of the bpflua host (`bpflua`, `bpflua -i script.lua`), in the manner
-- of Lua 5.4's: an expression prints its values, a statement prints nothing, incomplete
-- input continues on a ">>" prompt, errors are printed and the session goes on.
--
-- Line editing, history and Tab come from libedit through the host's bpflua.lineedit; Ctrl-C
-- is the host's too (runtime/host_main.c): at the prompt it clears the line, while code runs
-- it raises "interrupted" in it, which ends the input here and leaves every probe attached.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local pretty = require("bpflua.pretty")
local complete = require("bpflua.complete")
local explore = require("bpflua.explore")
local fs = require("bpflua.fs")
local errors = require("bpflua.errors")
local text_position = require("bpflua.text_position")

local M = {}

local HISTORY_FILE = ".bpflua_history"

-- What the REPL adds to the globals: the API without require, and the exploration commands.
function M.setup_globals(env)
  env.BPF = require("bpflua")
  env.ffi = ffi
  env.help = explore.help
  env.tracepoints = explore.tracepoints
  env.fields = explore.fields
  env.maps = explore.maps
  env.usdt = explore.usdt
  env.struct = explore.struct
  env.ksyms = explore.ksyms
  env.usyms = explore.usyms
  env.watch = explore.watch
end

-- Compiles an input as Lua 5.4's REPL does: as `return <input>` when that is an expression,
-- as statements otherwise. Returns the function; or nil and true when the input is
-- incomplete (the error is at its end); or nil and the syntax error.
--
-- The values pass through a function call, so that `error("x")` is not a tail call and its
-- message says "stdin:1:"; an expression with a trailing comment cannot be wrapped so.
function M.compile(source, env)
  local fn = loadstring("return (function(...) return ... end)(" .. source .. ")", "=stdin") or
    loadstring("return " .. source, "=stdin")
  local err
  if not fn then
    fn, err = loadstring(source, "=stdin")
  end
  if not fn then
    if err:find("'<eof>'$") then
      return nil, true
    end
    return nil, err
  end
  return setfenv(fn, env)
end

local function show_results(...)
  if select("#", ...) > 0 then
    io.write(pretty.show(...), "\n")
  end
end

-- Runs one complete input and prints its values.
local function run_input(fn)
  show_results(fn())
end

-- The message for an error in an input. The handler is Lua on purpose: the hook that Ctrl-C
-- arms fires at the first Lua instruction, and here that is still inside xpcall.
local function error_message(err)
  if type(err) == "string" then
    return err
  end
  local ok, text = pcall(pretty.format, err)
  return "(error object is a " .. type(err) .. " value" .. (ok and ": " .. text or "") .. ")"
end

local Session = {}
Session.__index = Session

function M.new(opts)
  opts = opts or {}
  local self = setmetatable({
    env = opts.env or _G,
    lineedit = opts.lineedit or require("bpflua.lineedit"),
    history = opts.history,
    pending = nil, -- the lines of an incomplete input
  }, Session)
  if self.history == nil then
    local home = os.getenv("HOME")
    self.history = home and home ~= "" and (home .. "/" .. HISTORY_FILE) or false
  end
  return self
end

function Session:start()
  M.setup_globals(self.env)
  local env = self.env
  self.lineedit.set_completer(function(line, start)
    return complete.candidates(env, line, start)
  end)
  if self.history then
    -- A missing file is the first run; an unreadable one only costs the old lines. Anything
    -- but a regular file (a FIFO would block the prompt forever) is left alone, and not
    -- written either.
    local kind = fs.kind(self.history)
    if kind == "file" then
      self.lineedit.read_history(self.history)
    elseif kind ~= nil then
      io.stderr:write("bpflua: not keeping history in ", self.history, ": it is a ", kind,
        ", not a regular file\n")
      self.history = false
    end
  end
end

function Session:remember(line)
  if not line:find("%S") then
    return
  end
  self.lineedit.add_history(line)
  if self.history then
    -- Written at every line, so that a session that ends by a second Ctrl-C keeps it too.
    local ok, err = self.lineedit.write_history(self.history)
    if not ok and not self.history_warned then
      io.stderr:write("bpflua: ", err, "\n")
      self.history_warned = true
    end
  end
end

-- Reads and runs one line. Returns true when the session is over (Ctrl-D).
function Session:step()
  local line = self.lineedit.readline(self.pending and ">> " or "> ")
  if line == nil then
    io.write("\n")
    return true
  end
  if line == false then
    io.write("\n") -- Ctrl-C at the prompt: the line is dropped, the prompt starts afresh
    self.pending = nil
    return false
  end
  self:remember(line)
  local source = self.pending and (self.pending .. "\n" .. line) or line
  self.pending = nil
  local fn, err = M.compile(source, self.env)
  text_position.remember_chunk("=stdin", source)
  if err == true then
    self.pending = source
  elseif not fn then
    io.stderr:write(err, "\n")
  else
    local interrupts = errors.interrupt_count()
    local ok, run_err = xpcall(run_input, error_message, fn)
    if not ok then
      -- Ctrl-C ends an input with "interrupted", whatever the code was doing then: the hook
      -- may even have fired in error_message, which leaves LuaJIT's "error in error
      -- handling" (an interrupt the input caught and an error after it are the input's).
      local in_handler = run_err == "error in error handling" and errors.interrupt_count() ~= interrupts
      if errors.is_interrupt(run_err) or in_handler or lib.bpflua_interrupted() ~= 0 then
        lib.bpflua_set_interrupted(0)
        run_err = "\ninterrupted" -- after the terminal's ^C
      end
      io.stdout:flush()
      io.stderr:write(run_err, "\n")
    end
  end
  return false
end

function Session:run()
  self:start()
  io.write("bpflua ", require("bpflua").version, " (", jit.version, "); help() for help\n")
  while not self:step() do
  end
end

-- Runs the REPL on the terminal until Ctrl-D.
function M.run(opts)
  M.new(opts):run()
end

return M
