-- The program first_event.lua times for bpflua: a getpriority tracepoint for one `who`
-- (arg[1]), an event through a ring buffer, "event" printed at the first one, then exit.
-- arg[2] is added to cflags, so that the caller can make the object cache miss on purpose.
local BPF = require("bpflua")

local b = BPF{text = [[
  BPF_RINGBUF_OUTPUT(events, 8);
  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != WHO)
      return 0;
    u32 who = args->who;
    events.ringbuf_output(&who, sizeof(who), 0);
    return 0;
  }
]], cflags = {"-DWHO=" .. arg[1], arg[2] or "-DSALT=0"}}

local seen = false
b["events"]:open_ring_buffer(function() seen = true end)
while not seen do
  b:ring_buffer_poll()
end
io.write("event\n")
io.stdout:flush() -- at once: a pipe is block-buffered, and exit waits for the detach
