-- System call names by number, from the kernel's UAPI header as installed for the C library
-- (linux-libc-dev), read once on first use.
local M = {}

local HEADERS = {
  "/usr/include/x86_64-linux-gnu/asm/unistd_64.h",
  "/usr/include/aarch64-linux-gnu/asm/unistd.h",
  "/usr/include/asm-generic/unistd.h",
  "/usr/include/asm/unistd_64.h",
}

local names

-- {[number] = "name"} for this machine's architecture.
function M.names()
  if names then
    return names
  end
  names = {}
  for _, path in ipairs(HEADERS) do
    local f = io.open(path)
    if f then
      for line in f:lines() do
        local name, nr = line:match("^#define __NR_([%w_]+)%s+(%d+)")
        if name then
          names[tonumber(nr)] = name
        end
      end
      f:close()
      break
    end
  end
  return names
end

-- The name of syscall nr, or "[nr]" when the header does not have it (as bcc's syscount).
function M.name(nr)
  return M.names()[nr] or ("[" .. tostring(nr) .. "]")
end

return M
