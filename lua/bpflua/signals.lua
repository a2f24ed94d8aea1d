-- Linux signal names by number (x86-64 and arm64 share them), as bcc's tools print them.
local M = {}

local NAMES = {
  "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
  "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
  "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
}

-- "KILL" for 9, "SIGRT3" for 37; "SIG?" for anything else.
function M.name(n)
  if NAMES[n] then
    return NAMES[n]
  elseif n >= 32 and n <= 64 then
    return "SIGRT" .. (n - 32)
  end
  return "SIG?"
end

-- The number of a signal given as 9, "9", "KILL" or "SIGKILL", or nil.
function M.number(s)
  if tonumber(s) then
    return tonumber(s)
  end
  s = tostring(s):upper():gsub("^SIG", "")
  for n, name in ipairs(NAMES) do
    if name == s then
      return n
    end
  end
end

return M
