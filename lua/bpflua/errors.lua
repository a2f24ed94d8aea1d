-- How bpflua's Lua side reports failures: one shape for every error, as lauxlib's
-- luaL_fileresult gives Lua's io library one, and one message buffer for libbpflua's
-- `char **error` convention, as lua-resty-core's get_errmsg_ptr.
--
--   local err = errors.message_ptr()          -- pass to a libbpflua call that may fail
--   if lib.bpflua_x(..., err) == nil then errors.raise_c(err) end
--   errors.raise("table 'x' is full")         -- at the user's line, not bpflua's
--   errors.fail(message)                      -- a message that names its own position
--   errors.interrupted(level)                 -- Ctrl-C, seen by a blocking wait
--   errors.strerror(errno), errors.errno_text()
--
-- Errors point at the first caller outside bpflua's own modules, whatever the depth of the
-- call chain inside them, so that `b:attach_uprobe{...}` failing names the script's line.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

local message_ptr = ffi.new("char *[1]")

-- The buffer a libbpflua call writes its malloc'd message to. Shared: take the message
-- (take_c or raise_c) before the next call into libbpflua.
function M.message_ptr()
  message_ptr[0] = nil
  return message_ptr
end

-- The message a failed libbpflua call left in ptr, freed; fallback when it left none.
function M.take_c(ptr, fallback)
  local p = ptr[0]
  if p == nil then
    return fallback or "unknown error"
  end
  ptr[0] = nil
  local message = ffi.string(p)
  lib.bpflua_free(p)
  return message
end

function M.strerror(errno)
  return ffi.string(lib.strerror(errno))
end

-- The text of the current errno (read it before any other call can change it).
function M.errno_text()
  return M.strerror(ffi.errno())
end

-- The directory bpflua's modules live in: frames from files there are bpflua's own.
local own_dir = debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")

local function is_own(source)
  return own_dir ~= nil and source:sub(1, 1) == "@" and source:sub(2, #own_dir + 1) == own_dir
end
-- Whether a function's source (debug.getinfo's) is one of bpflua's modules.
M.is_own_source = is_own

-- The stack level (for error()) of the first function outside bpflua's modules that is
-- not a C function (pcall and friends), counted from the caller of user_level's caller;
-- 0 (no position) when one of bpflua's own modules called the pcall that will catch the
-- error: it words the message for its own user (the tools' "error in probe ...").
function M.user_level()
  local level, through_c = 3, false
  while true do
    local info = debug.getinfo(level, "S")
    if not info then
      return 1
    end
    if info.what == "C" then
      through_c = true
    elseif not is_own(info.source) then
      return level - 1
    elseif through_c then
      return 0
    end
    level = level + 1
  end
end

-- ---- Errors the host reports in one sentence -------------------------------------------
--
-- bpflua's own errors (a bad argument, a C error, no root, a failed attach) say all there is
-- in their message, so the bpflua host prints them without a Lua traceback (BPFLUA_DEBUG=1
-- brings it back), while an error in the user's own Lua code keeps its traceback, as luajit
-- prints it. The host learns which is which from this registry table, message -> kind:
--   "sentence"    printed after "bpflua: "
--   "diagnostic"  a compiler message that starts with its own file:line:col, printed as is
--   "interrupt"   Ctrl-C: the host prints "bpflua: interrupted" and exits with 130
-- Only the last few messages are kept: the host asks about the one that ended the script.
local REPORTED = "bpflua.reported_errors" -- also read by runtime/host_main.c
local KEEP = 32

local registry = debug.getregistry()
local reported = registry[REPORTED]
if reported == nil then
  reported = {}
  registry[REPORTED] = reported
end
-- The ring of kept messages, apart from the table the host reads (whose keys are messages).
local kept, next_slot = {}, 1

local function mark(message, kind)
  local old = kept[next_slot]
  if old ~= nil and old ~= message then
    reported[old] = nil
  end
  kept[next_slot] = message
  next_slot = next_slot % KEEP + 1
  reported[message] = kind
  return message
end

-- What kind of bpflua error err is ("sentence", "diagnostic", "interrupt"), or nil for any
-- other error.
function M.kind(err)
  return type(err) == "string" and reported[err] or nil
end

-- "script.lua:12: " for a stack level as error() counts it from where's caller (1: that
-- caller), as luaL_where; "" for level 0.
local function where(level)
  if level <= 0 then
    return ""
  end
  local info = debug.getinfo(level + 1, "Sl")
  if info and info.currentline and info.currentline > 0 then
    return info.short_src .. ":" .. info.currentline .. ": "
  end
  return ""
end

-- Raises message as a Lua error positioned at the user's line.
function M.raise(message)
  local level = M.user_level()
  error(mark(where(level) .. message, "sentence"), 0)
end

-- Raises a message that needs no Lua position: it names the program, the probe or the file
-- itself. One that starts with "file:line:col: " is a compiler's diagnostic.
function M.fail(message)
  local kind = message:match("^[^\n:]+:%d+:%d+: ") and "diagnostic" or "sentence"
  error(mark(message, kind), 0)
end

-- Raises the message of a failed libbpflua call. Compiler messages carry their own
-- position (line:col in the BPF C), so they get none of Lua's: position = false.
function M.raise_c(ptr, prefix, position)
  local message = (prefix or "") .. M.take_c(ptr)
  if position == false then
    M.fail(message)
  end
  local level = M.user_level()
  error(mark(where(level) .. message, "sentence"), 0)
end

-- ---- Ctrl-C --------------------------------------------------------------------------------
--
-- The host turns Ctrl-C into an "interrupted" error: its Lua hook raises it at the next Lua
-- instruction, and libbpflua's blocking waits (BPF.sleep, ring_buffer_poll, the trace pipe)
-- return at once, and their callers call interrupted(). Either way the interrupt is then
-- delivered: the flag is cleared (which disarms the host's hook and its grace-period exit),
-- so a script that catches the error (pcall(BPF.sleep, 5)) goes on as if nothing had happened
-- and ends with its own status; one that does not ends with "bpflua: interrupted" and 130.
local INTERRUPTS = "bpflua.interrupts" -- the count, also kept by runtime/host_main.c

-- Raises the "interrupted" error of a Ctrl-C at a stack level, as error() takes it.
function M.interrupted(level)
  level = level or 1
  lib.bpflua_set_interrupted(0)
  registry[INTERRUPTS] = (registry[INTERRUPTS] or 0) + 1
  error(mark(where(level > 0 and level + 1 or 0) .. "interrupted", "interrupt"), 0) -- the caller's level
end

-- How many Ctrl-Cs have become errors so far: the REPL compares it around an input.
function M.interrupt_count()
  return registry[INTERRUPTS] or 0
end

function M.is_interrupt(err)
  return M.kind(err) == "interrupt"
end

return M
