-- The program the start-up benchmark times: an openat tracepoint writing a ring buffer, as
-- scripts/ringbuf_output.lua does. It prints the CLOCK_MONOTONIC time at which its probe is
-- attached, then exits (detaching it). arg[1] is added to cflags, so a caller can make the
-- object cache miss on purpose.
local ffi = require("ffi")
local BPF = require("bpflua")

ffi.cdef[[
struct bench_timespec { long tv_sec; long tv_nsec; };
int clock_gettime(int clock, struct bench_timespec *ts);
]]

local b = BPF{text = [[
  struct event { char filename[64]; int dfd; int flags; int mode; };
  BPF_RINGBUF_OUTPUT(events, 8);

  TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    struct event e = {};
    bpf_probe_read_user_str(&e.filename, sizeof(e.filename), args->filename);
    e.dfd = args->dfd;
    e.flags = args->flags;
    e.mode = args->mode;
    events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
]], cflags = {arg[1] or "-DSALT=0"}}

local ts = ffi.new("struct bench_timespec")
ffi.C.clock_gettime(1, ts)
io.write(string.format("attached %d %d %s\n", tonumber(ts.tv_sec), tonumber(ts.tv_nsec),
  tostring(b.cache_hit)))
