-- Reading the kernel's trace pipe, where bpf_trace_printk() writes: bcc's trace_readline,
-- trace_fields and trace_print. One reader per process (the pipe is shared system-wide and
-- a line read by one reader is gone for the others, as in bcc).
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local errors = require("bpflua.errors")
local lifetime = require("bpflua.lifetime")
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
local close_fd
-- The objects (their lifetime states) that read the pipe; each removes itself when it is
-- torn down, by cleanup() or by the collector.
local readers = {}
local buf = ffi.new("char[4096]")
local pollfd = ffi.new("struct bpflua_pollfd[1]")

local EBUSY, EACCES, EPERM = 16, 13, 1

local function open_pipe()
  if fd >= 0 then
    return
  end
  local path, not_mounted = tracefs.path("trace_pipe")
  if not path then
    errors.raise("cannot open the trace pipe: " .. not_mounted)
  end
  fd = ffi.C.open(path, O_RDONLY + O_CLOEXEC)
  if fd < 0 then
    local errno = ffi.errno()
    local failure = path .. ": " .. errors.strerror(errno)
    if errno == EBUSY then
      failure = failure .. " (another process is reading it; the kernel allows one reader)"
    elseif errno == EACCES or errno == EPERM then
      failure = failure .. " (tracefs is mounted but this user may not read it: run as root)"
    end
    errors.raise("cannot open the trace pipe " .. failure)
  end
  close_fd = lifetime.once(function(box) ffi.C.close(box[0]) end)
  fd_owner = ffi.gc(ffi.new("int[1]", fd), close_fd)
end

-- The pipe stays open while a BPF object that read it is alive, so that no line is lost
-- between reads, and is closed when the last one is cleaned up: the kernel lets only one
-- process at a time read it.
function M.add_reader(state)
  if not readers[state] then
    readers[state] = true
    state:own(state, M.remove_reader)
  end
end

function M.remove_reader(state)
  readers[state] = nil
  if next(readers) == nil and fd >= 0 then
    close_fd(ffi.gc(fd_owner, nil))
    fd, fd_owner, close_fd, pending = -1, nil, nil, ""
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
        errors.interrupted(2)
      end
    elseif n < 0 then
      errors.raise("cannot read the trace pipe: " .. errors.errno_text())
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
