-- Block devices by the dev_t the block tracepoints carry (major << 20 | minor), as bcc's
-- biolatency and biosnoop name them: from /proc/diskstats.
local M = {}

local MINOR_BITS = 20

local function read_names()
  local names = {}
  local f = io.open("/proc/diskstats")
  if f then
    for line in f:lines() do
      local major, minor, name = line:match("^%s*(%d+)%s+(%d+)%s+(%S+)")
      if major then
        names[tonumber(major) * 2 ^ MINOR_BITS + tonumber(minor)] = name
      end
    end
    f:close()
  end
  return names
end

local names

-- The disk's name, or "?" as bcc prints an unknown one (disks added since are looked up again).
function M.name(dev)
  names = names or read_names()
  if not names[dev] then
    names = read_names()
  end
  return names[dev] or "?"
end

-- The dev_t of the disk called name, or nil.
function M.dev(name)
  names = read_names()
  for dev, n in pairs(names) do
    if n == name then
      return dev
    end
  end
end

-- bcc's words for an I/O's flags, from the rwbs text the block tracepoints give (blk_fill_rwbs):
-- "Sync-Write", "ReadAhead-Read", "Metadata-Sync-Write".
local OPS = {R = "Read", W = "Write", D = "Discard", F = "Flush", N = "None"}
function M.flags_text(rwbs)
  local s = rwbs
  local preflush = false
  if #s > 1 and s:sub(1, 1) == "F" then
    preflush, s = true, s:sub(2)
  end
  local desc = OPS[s:sub(1, 1)] or "Unknown"
  if s:sub(1, 2) == "DE" then
    desc, s = "SecureErase", s:sub(2)
  end
  for c in s:sub(2):gmatch(".") do
    desc = (c == "S" and "Sync-" or c == "M" and "Metadata-" or c == "A" and "ReadAhead-" or
      c == "F" and "ForcedUnitAccess-" or "") .. desc
  end
  if preflush then
    desc = "PreFlush-" .. desc
  end
  return desc
end

return M
