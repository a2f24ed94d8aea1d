-- DNS responses (RFC 1035) read far enough to tell which name an address came from, as
-- tcpconnect -d needs: the question's name and the A/AAAA addresses of the answers.
--   local name, addresses = require("bpflua.dns").answers(packet)   -- a Lua string
-- Returns nil for anything that is not a response to one question with answers, or that is
-- cut short.
local inet = require("bpflua.inet")
local ffi = require("ffi")

local M = {}

local TYPE_A, TYPE_AAAA = 1, 28
local address_buffer = ffi.new("uint8_t[16]")

local function u16(packet, at)
  local hi, lo = packet:byte(at, at + 1)
  return hi * 256 + lo
end

-- The name at offset at (1-based) as "www.example.com", following compression pointers,
-- and the offset after it in the packet (not after where a pointer led).
local function read_name(packet, at)
  local labels, after, jumps = {}, nil, 0
  while true do
    local length = packet:byte(at)
    if not length then
      return nil
    end
    if length == 0 then
      return table.concat(labels, "."), after or at + 1
    elseif length >= 0xc0 then  -- a pointer to a name earlier in the packet
      local target = packet:byte(at + 1)
      if not target then
        return nil
      end
      after = after or at + 2
      at = (length - 0xc0) * 256 + target + 1
      jumps = jumps + 1
      if jumps > 16 then  -- a loop of pointers
        return nil
      end
    else
      labels[#labels + 1] = packet:sub(at + 1, at + length)
      at = at + 1 + length
    end
  end
end

local function address(family, bytes)
  ffi.copy(address_buffer, bytes, #bytes)
  return inet.ntop(family, address_buffer)
end

function M.answers(packet)
  if #packet < 12 then
    return nil
  end
  local flags, questions, answers = u16(packet, 3), u16(packet, 5), u16(packet, 7)
  if bit.band(flags, 0x8000) == 0 or questions ~= 1 or answers == 0 then
    return nil
  end
  local name, at = read_name(packet, 13)
  if not name then
    return nil
  end
  at = at + 4  -- the question's type and class
  local addresses = {}
  for _ = 1, answers do
    local after_name
    _, after_name = read_name(packet, at)
    if not after_name or after_name + 10 > #packet + 1 then
      break
    end
    local rtype, length = u16(packet, after_name), u16(packet, after_name + 8)
    local data = packet:sub(after_name + 10, after_name + 9 + length)
    if #data < length then
      break
    end
    if rtype == TYPE_A and length == 4 then
      addresses[#addresses + 1] = address(inet.AF_INET, data)
    elseif rtype == TYPE_AAAA and length == 16 then
      addresses[#addresses + 1] = address(inet.AF_INET6, data)
    end
    at = after_name + 10 + length
  end
  return name, addresses
end

return M
