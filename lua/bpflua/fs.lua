-- What kind of file a path names, without opening it: opening a FIFO waits for a writer
-- (or a reader), so paths bpflua reads or writes on a user's say (src_file, a uprobe's
-- binary, the REPL's history) are checked first. statx(2), whose struct has the same
-- layout on every architecture, unlike struct stat.
local ffi = require("ffi")
local bit = require("bit")
local errors = require("bpflua.errors")

ffi.cdef[[
struct bpflua_statx {
  uint32_t mask, blksize;
  uint64_t attributes;
  uint32_t nlink, uid, gid;
  uint16_t mode;
  uint8_t rest[226];
};
int bpflua_statx(int dirfd, const char *path, int flags, unsigned int mask,
                 struct bpflua_statx *buf) __asm__("statx");
]]

local AT_FDCWD, STATX_TYPE = -100, 1
local S_IFMT = 0xf000
local kinds = {
  [0x8000] = "file", [0x4000] = "directory", [0x1000] = "fifo", [0x2000] = "character device",
  [0x6000] = "block device", [0xc000] = "socket", [0xa000] = "symbolic link",
}

local M = {}

local buf = ffi.new("struct bpflua_statx")

-- "file", "directory", "fifo", ... for what path names (symbolic links followed); nil, the
-- error text and the errno when it cannot be examined (missing: errno 2).
function M.kind(path)
  if ffi.C.bpflua_statx(AT_FDCWD, path, 0, STATX_TYPE, buf) ~= 0 then
    local errno = ffi.errno()
    return nil, errors.strerror(errno), errno
  end
  return kinds[bit.band(buf.mode, S_IFMT)] or "special file"
end

-- Raises (through raise, a function of a message) unless path is a regular file; what says
-- what the file is for ("src_file", "the uprobe's binary").
function M.check_regular(path, what, raise)
  local kind, err = M.kind(path)
  if kind == nil then
    raise(string.format("%s %s: %s", what, path, err == "No such file or directory" and
      "no such file" or err))
  elseif kind ~= "file" then
    raise(string.format("%s %s is a %s, not a regular file", what, path, kind))
  end
end

return M
