-- Internet addresses and TCP states as bcc's network tools print them.
local ffi = require("ffi")

ffi.cdef[[
const char *inet_ntop(int af, const void *src, char *dst, unsigned int size);
]]

local M = {AF_INET = 2, AF_INET6 = 10}

local text = ffi.new("char[46]")

-- An address (a pointer to 4 or 16 bytes, network order) as text.
function M.ntop(family, addr)
  if ffi.C.inet_ntop(family, addr, text, 46) == nil then
    return "?"
  end
  return ffi.string(text)
end

-- include/net/tcp_states.h
local STATES = {"ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT",
  "CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"}

function M.tcp_state(n)
  return STATES[n] or tostring(n)
end

-- A set of ports from "80,443" (nil when the list is empty), or an error naming the bad one.
function M.port_set(list)
  if not list then
    return nil
  end
  local set = {}
  for p in list:gmatch("[^,%s]+") do
    local n = tonumber(p)
    if not n or n < 0 or n > 65535 or n % 1 ~= 0 then
      error("bad port '" .. p .. "'", 0)
    end
    set[#set + 1] = n
  end
  return set
end

-- C for a port filter: "(PORT == 80 || PORT == 443)" over the expression port, or "1".
function M.port_filter(set, port)
  if not set or #set == 0 then
    return "1"
  end
  local terms = {}
  for i, p in ipairs(set) do
    terms[i] = string.format("%s == %d", port, p)
  end
  return "(" .. table.concat(terms, " || ") .. ")"
end

return M
