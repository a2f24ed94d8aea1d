-- ringbuf_submit.lua: print every openat() as it happens, reserving ring buffer space in BPF
-- and submitting it. The BPF C is bcc's examples/ringbuf/ringbuf_submit.py as written there,
-- to show that it runs unchanged. Ctrl-C to stop.
local BPF = require("bpflua")
local ffi = require("ffi")

local src = [[
BPF_RINGBUF_OUTPUT(buffer, 1 << 4);

struct event {
    char filename[64];
    int dfd;
    int flags;
    int mode;
};

TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    int zero = 0;

    struct event *event = buffer.ringbuf_reserve(sizeof(struct event));
    if (!event) {
        return 1;
    }

    bpf_probe_read_user_str(event->filename, sizeof(event->filename), args->filename);

    event->dfd = args->dfd;
    event->flags = args->flags;
    event->mode = args->mode;

    buffer.ringbuf_submit(event, 0);
    // or, to discard: buffer.ringbuf_discard(event, 0);

    return 0;
}
]]

local b = BPF{text = src}
local buffer = b["buffer"]

buffer:open_ring_buffer(function(ctx, data, size)
  local event = buffer:event(data)
  print(string.format("%-64s %10d %10d %10d", ffi.string(event.filename), event.dfd,
    event.flags, event.mode))
end)

print("Printing openat() calls, ctrl-c to exit.")
print(string.format("%-64s %10s %10s %10s", "FILENAME", "DIR_FD", "FLAGS", "MODE"))
io.stdout:setvbuf("line")

while true do
  b:ring_buffer_consume()
  BPF.sleep(0.5)
end
