-- POSIX extended regular expressions (regcomp/regexec from the C library), for the tools'
-- options that bcc gives regular expressions (execsnoop -n, -l).
--   local re = regex.compile("^ba?sh$")   -- errors on a bad pattern, naming it
--   if re:find("bash") then ... end
local ffi = require("ffi")

-- regex_t's layout is the C library's; 64 bytes covers glibc's and musl's on 64-bit targets.
ffi.cdef[[
typedef struct { char opaque[64]; } bpflua_regex_t;
int regcomp(bpflua_regex_t *preg, const char *regex, int cflags);
int regexec(const bpflua_regex_t *preg, const char *string, size_t nmatch, void *pmatch, int eflags);
size_t regerror(int errcode, const bpflua_regex_t *preg, char *errbuf, size_t errbuf_size);
void regfree(bpflua_regex_t *preg);
]]

local REG_EXTENDED, REG_NOSUB = 1, 8

local Regex = {}
Regex.__index = Regex

local M = {}

function M.compile(pattern)
  local preg = ffi.gc(ffi.new("bpflua_regex_t"), ffi.C.regfree)
  local err = ffi.C.regcomp(preg, pattern, REG_EXTENDED + REG_NOSUB)
  if err ~= 0 then
    ffi.gc(preg, nil) -- regcomp failed: there is nothing for regfree to free
    local buf = ffi.new("char[256]")
    ffi.C.regerror(err, preg, buf, 256)
    error(string.format("bad regular expression '%s': %s", pattern, ffi.string(buf)), 2)
  end
  return setmetatable({preg = preg, pattern = pattern}, Regex)
end

-- True when the expression matches somewhere in s.
function Regex:find(s)
  return ffi.C.regexec(self.preg, s, 0, nil, 0) == 0
end

return M
