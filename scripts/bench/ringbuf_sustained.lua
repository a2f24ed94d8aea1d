-- Sustained benchmark: a second process makes events as fast as it can for a while (10 s by
-- default) while bpflua consumes them with ring_buffer_poll from a 64-page ring. Reports
-- events produced, delivered and dropped.
--   bpflua scripts/bench/ringbuf_sustained.lua [seconds]   (as root, after scripts/setup.sh)
local BPF = require("bpflua")
local ffi = require("ffi")

local seconds = tonumber(arg[1]) or 10
local MAGIC = 424242

local b = BPF{text = [[
  struct event { char filename[16]; int dfd; int flags; int mode; u64 seq; };
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != ]] .. MAGIC .. [[) return 0;
    struct event e = {};
    e.seq = args->which;
    e.dfd = -100;
    events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
]]}

local events = b["events"]
local delivered, last_seq, out_of_order = 0, -1, 0
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  delivered = delivered + 1
  local seq = tonumber(e.seq)
  if seq <= last_seq then
    out_of_order = out_of_order + 1
  end
  last_seq = seq
end)

-- The producer: a stock luajit calling getpriority() in a tight loop, numbering each call
-- in its first argument, until the time is up; it prints how many calls it made.
local producer = io.popen(string.format([[luajit -e '
  local ffi = require("ffi")
  ffi.cdef("int getpriority(int, int); long time(long *);")
  local stop, n = ffi.C.time(nil) + %d, 0
  while true do
    for _ = 1, 4096 do
      ffi.C.getpriority(n %% 1000000000, %d)
      n = n + 1
    end
    if ffi.C.time(nil) >= stop then break end
  end
  print(n)']], seconds, MAGIC))

-- Consume while it runs, then what is left.
local deadline = os.time() + seconds + 2
while os.time() < deadline do
  b:ring_buffer_poll(100)
end
local produced = tonumber(producer:read("*a"))
producer:close()
b:ring_buffer_consume()

local dropped = events:dropped()
print(string.format("ring buffer sustained, %d s, 64-page ring, %s", seconds, os.date("!%Y-%m-%d")))
print(string.format("produced %d (%.0f/s)  delivered %d  dropped %d  out of order %d", produced,
  produced / seconds, delivered, dropped, out_of_order))
assert(delivered + dropped == produced, "events went missing without being counted as dropped")
