-- How bpflua's Lua side reports failures: one shape for every error, as lauxlib's
-- luaL_fileresult gives Lua's io library one, and one message buffer for libbpflua's
-- `char **error` convention, as lua-resty-core's get_errmsg_ptr.
--
--   local err = errors.message_ptr()          -- pass to a libbpflua call that may fail
--   if lib.bpflua_x(..., err) == nil then errors.raise_c(err) end
--   errors.raise("table 'x' is full")         -- at the user's line, not bpflua's
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

-- Raises message as a Lua error positioned at the user's line.
function M.raise(message)
  error(message, M.user_level())
end

-- Raises the message of a failed libbpflua call. Compiler messages carry their own
-- position (line:col in the BPF C), so they get none of Lua's: position = false.
function M.raise_c(ptr, prefix, position)
  local message = (prefix or "") .. M.take_c(ptr)
  if position == false then
    error(message, 0)
  end
  error(message, M.user_level())
end

return M
