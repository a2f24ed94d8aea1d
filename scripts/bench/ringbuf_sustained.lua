-- Sustained benchmark: a second process makes events as fast as it can for a while (10 s by
-- default) while a consumer keeps up from a 64-page ring: bpflua's ring_buffer_poll with a
-- Lua callback, then libbpf's ring_buffer__poll with a C callback (ringbuf_sustained_c.c,
-- built by the benchmark) against a fresh producer on the same ring. Reports events
-- produced, delivered and dropped (the ring was full) for each.
--   bpflua scripts/bench/ringbuf_sustained.lua [seconds]   (as root, after scripts/setup.sh)
local BPF = require("bpflua")

local seconds = tonumber(arg[1]) or 10
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local MAGIC = 424242
local bench = dofile(here .. "/bench.lua")
local baseline = bench.c_library(here .. "/ringbuf_sustained_c.c", [[
long bench_sustained_consume(int map_fd, double seconds, long *disordered);
]])

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
local function start_producer()
  return io.popen(string.format([[luajit -e '
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
end

local function finish(producer)
  local produced = tonumber(producer:read("*a"))
  producer:close()
  return produced
end

local rows = {}
local function row(name, produced, got, dropped, disordered)
  assert(got + dropped == produced, name .. ": events went missing without being counted as dropped")
  rows[#rows + 1] = string.format("%-32s %10d %9.0f %10d %9d %12d", name, produced, produced / seconds,
    got, dropped, disordered)
end

-- bpflua: consume while the producer runs, then what is left.
local producer = start_producer()
local deadline = os.time() + seconds + 2
while os.time() < deadline do
  b:ring_buffer_poll(100)
end
local produced = finish(producer)
b:ring_buffer_consume()
local lua_dropped = events:dropped()
local lua_delivered, lua_produced = delivered, produced
row("bpflua ring_buffer_poll, Lua", produced, delivered, lua_dropped, out_of_order)

-- libbpf, on the same ring (empty now), with a producer of its own.
producer = start_producer()
local disordered = require("ffi").new("long[1]")
local got = tonumber(baseline.bench_sustained_consume(events.fd, seconds + 2, disordered))
assert(got >= 0, "libbpf cannot open the ring")
produced = finish(producer)
row("libbpf ring_buffer__poll, C", produced, got, events:dropped() - lua_dropped, tonumber(disordered[0]))

print(string.format("ring buffer sustained, %d s each, 64-page ring, %s", seconds, os.date("!%Y-%m-%d")))
print(string.format("%-32s %10s %9s %10s %9s %12s", "consumer", "produced", "per s", "delivered",
  "dropped", "out of order"))
for _, r in ipairs(rows) do
  print(r)
end
-- For all.lua: the share of produced events each consumer lost (lower is better).
bench.summary("ring buffer sustained", "bpflua ring_buffer_poll, events lost",
  1 - lua_delivered / lua_produced, "libbpf C", 1 - got / produced)
