-- Reading the kernel's trace pipe, where bpf_trace_printk() writes: bcc's trace_readline,
-- trace_fields and trace_print. One reader per process (the pipe is shared system-wide and
-- a line read by one reader is gone for the others, as in bcc).
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local tracefs = require("bpflua.tracefs")

ffi.cdef[[
int open(const char *path, int flags);
long read(int fd, void *buf, size_t count);
struct bpflua_pollfd { int fd; short events; short revents; };
int bpflua_poll(struct bpflua_pollfd *fds, unsigned long nfds, int timeout) __asm__("poll");
]]

-- poll is declared under a name of bpflua's: the FFI keeps the first declaration of a C
-- name, and a program that embeds bpflua declares poll with its own struct pollfd.
local O_RDONLY, O_CLOEXEC = 0, 0x80000
local EINTR, POLLIN = 4, 1

local M = {}

local fd, pending = -1, ""
local fd_owner -- closes fd when this module is collected (a reload), if close() did not
local readers = setmetatable({}, {__mode = "k"})
local buf = ffi.new("char[4096]")
local pollfd = ffi.new("struct bpflua_pollfd[1]")

local EBUSY = 16

local function open_pipe()
  if fd >= 0 then
    return
  end
  local path, not_mounted = tracefs.path("trace_pipe")
  if not path then
    error("cannot open the trace pipe: " .. not_mounted, 3)
  end
  fd = ffi.C.open(path, O_RDONLY + O_CLOEXEC)
  if fd < 0 then
    local failure = path .. ": " .. ffi.string(lib.strerror(ffi.errno()))
    if ffi.errno() == EBUSY then
      failure = failure .. " (another process is reading it; the kernel allows one reader)"
    end
    error("cannot open the trace pipe " .. failure, 3)
  end
  fd_owner = ffi.gc(ffi.new("int[1]", fd), function(box) ffi.C.close(box[0]) end)
end

-- The pipe stays open while a BPF object that read it is alive, so that no line is lost
-- between reads, and is closed when the last one is cleaned up: the kernel lets only one
-- process at a time read it.
function M.add_reader(object)
  readers[object] = true
end

function M.remove_reader(object)
  readers[object] = nil
  if next(readers) == nil and fd >= 0 then
    ffi.gc(fd_owner, nil)
    ffi.C.close(fd)
    fd, fd_owner, pending = -1, nil, ""
  end
end

-- The next line of the trace pipe without its newline; waits for one unless nonblocking,
-- in which case it returns nil when there is none.
function M.readline(nonblocking)
  open_pipe()
  while true do
    local nl = pending:find("\n", 1, true)
    if nl then
      local line = pending:sub(1, nl - 1)
      pending = pending:sub(nl + 1)
      return line
    end
    if nonblocking then
      pollfd[0].fd, pollfd[0].events = fd, POLLIN
      if ffi.C.bpflua_poll(pollfd, 1, 0) <= 0 then
        return nil
      end
    end
    local n = tonumber(ffi.C.read(fd, buf, 4096))
    if n > 0 then
      pending = pending .. ffi.string(buf, n)
    elseif n < 0 and ffi.errno() == EINTR then
      if lib.bpflua_interrupted() ~= 0 then
        error("interrupted", 2)
      end
    elseif n < 0 then
      error("cannot read the trace pipe: " .. ffi.string(lib.strerror(ffi.errno())), 2)
    end
  end
end

-- Splits a trace pipe line as bcc's trace_fields does: task, pid, cpu, flags, timestamp and
-- message; nil for a line of another shape.
function M.fields(line)
  local task, pid, cpu, flags, ts, msg =
    line:match("^%s*(.-)%-(%d+)%s+%(?[%d%s%-]*%)?%s*%[(%d+)%]%s+(%S+)%s+([%d%.]+): [^:]*: (.*)$")
  if not task then
    return nil
  end
  return task, tonumber(pid), tonumber(cpu), flags, tonumber(ts), msg
end

-- The next trace_printk line's fields (waiting for one unless nonblocking).
function M.next_fields(nonblocking)
  while true do
    local line = M.readline(nonblocking)
    if not line then
      return nil
    end
    local task, pid, cpu, flags, ts, msg = M.fields(line)
    if task then
      return task, pid, cpu, flags, ts, msg
    end
  end
end

-- Prints the trace pipe until interrupted; fmt, when given, formats each line from its
-- fields: "{1}" task, "{2}" pid, "{3}" cpu, "{4}" flags, "{5}" timestamp, "{6}" message.
function M.print(fmt)
  while true do
    if fmt then
      local fields = {M.next_fields()}
      print((fmt:gsub("{(%d)}", function(i) return tostring(fields[tonumber(i)]) end)))
    else
      print(M.readline())
    end
  end
end

return M
