-- Soak test: what a long run must keep true, measured and printed.
--
-- 1. A child process calls getpriority() as fast as it can for -d seconds, numbering each
--    call; one BPF program sends each number through a ring buffer and a perf buffer while
--    this process consumes both. For each: delivered + dropped (lost) must equal produced,
--    and numbers must come in increasing order with no repeats (per CPU for the perf
--    buffer, whose rings are per CPU).
-- 2. -n BPF objects created and dropped without cleanup(), each attached to one
--    tracepoint: the descriptors and resident memory of this process must stay flat.
--
--   bpflua scripts/bench/soak.lua [-d SECONDS] [-n OBJECTS]   (as root; default 60 s, 10000)
-- Exits with status 1 when a check fails.
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "soak.lua [-d SECONDS] [-n OBJECTS]",
  description = "Deliver numbered events through a ring and a perf buffer, create and drop objects; check counts.",
  {"-d", "--duration", "duration", "number", "seconds of production (default 60)", metavar = "SECONDS"},
  {"-n", "--objects", "objects", "number", "BPF objects to create and drop (default 10000)"},
})
local seconds = opts.duration or 60
local objects = opts.objects or 10000

local function my_pid()
  local f = io.open("/proc/self/stat") -- opened by this process, so "self" is this one
  local pid = f:read("*n")
  f:close()
  return pid
end

-- The `who` the producer passes, so that other callers do not count: this process's own
-- number, since another soak run (a second test suite on the machine) must not count either.
local MAGIC = 0x40000000 + my_pid()

local failures = 0
local function check(ok, what)
  print(string.format("  %-60s %s", what, ok and "ok" or "FAILED"))
  if not ok then
    failures = failures + 1
  end
end

-- ---- 1. Numbered events through both buffers ------------------------------------------

local b = BPF{text = [[
  struct event { u64 seq; };
  BPF_RINGBUF_OUTPUT(ring, 64);
  BPF_PERF_OUTPUT(perf);
  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != ]] .. MAGIC .. [[) return 0;
    struct event e = {args->which};
    ring.ringbuf_output(&e, sizeof(e), 0);
    perf.perf_submit(args, &e, sizeof(e));
    return 0;
  }
]]}

local ring, perf = b["ring"], b["perf"]
local ring_got, ring_last, ring_disorder = 0, -1, 0
ring:open_ring_buffer(function(_, data)
  local seq = tonumber(ring:event(data).seq)
  if seq <= ring_last then
    ring_disorder = ring_disorder + 1
  end
  ring_last = seq
  ring_got = ring_got + 1
end)

local perf_got, perf_last, perf_disorder = 0, {}, 0
perf:open_perf_buffer(function(cpu, data)
  local seq = tonumber(perf:event(data).seq)
  local last = perf_last[cpu] or -1
  if seq <= last then
    perf_disorder = perf_disorder + 1
  end
  perf_last[cpu] = seq
  perf_got = perf_got + 1
end, 64, function() end)

-- The producer: a stock luajit numbering its getpriority() calls (from 0) in `which` until
-- the time is up; it prints how many it made.
local producer = io.popen(string.format([[luajit -e '
  local ffi = require("ffi")
  ffi.cdef("int getpriority(int, int); long time(long *);")
  local stop, n = ffi.C.time(nil) + %d, 0
  while true do
    for _ = 1, 4096 do
      ffi.C.getpriority(n, %d)
      n = n + 1
    end
    if ffi.C.time(nil) >= stop then break end
  end
  print(n)']], seconds, MAGIC))

print(string.format("producing for %d s ...", seconds))
local deadline = os.time() + seconds + 2
while os.time() < deadline do
  b:ring_buffer_poll(50)
  b:perf_buffer_consume()
end
local produced = tonumber(producer:read("*a"))
producer:close()
b:ring_buffer_consume()
b:perf_buffer_consume()

local ring_dropped, perf_lost = ring:dropped(), perf:lost()
print(string.format("%-12s %12s %12s %12s %10s", "", "produced", "delivered", "dropped", "disorder"))
print(string.format("%-12s %12d %12d %12d %10d", "ring buffer", produced, ring_got, ring_dropped, ring_disorder))
print(string.format("%-12s %12d %12d %12d %10d", "perf buffer", produced, perf_got, perf_lost, perf_disorder))
print(string.format("(%.0f events/s produced)", produced / seconds))
check(ring_got + ring_dropped == produced, "ring: delivered + dropped == produced")
check(ring_disorder == 0, "ring: increasing, no repeats")
check(perf_got + perf_lost == produced, "perf: delivered + lost == produced")
check(perf_disorder == 0, "perf: increasing per CPU, no repeats")
b:cleanup()

-- ---- 2. Objects created and dropped ----------------------------------------------------

-- Listed by a shell os.execute waits for: a listing read through io.popen would race with
-- popen's own pipe.
local function fd_count()
  local out = os.tmpname()
  os.execute("ls /proc/" .. my_pid() .. "/fd > " .. out)
  local n = 0
  for _ in io.lines(out) do
    n = n + 1
  end
  os.remove(out)
  return n
end

local function rss_kb()
  local f = io.open("/proc/self/status")
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("VmRSS:%s*(%d+)"))
end

local src = "BPF_ARRAY(c, u64, 1);\nTRACEPOINT_PROBE(syscalls, sys_enter_getppid) { c.increment(0); return 0; }\n"
BPF{text = src}:cleanup() -- compile once: the rest come from the cache
collectgarbage()
local start_fds, start_rss = fd_count(), rss_kb()
print(string.format("\n%8s %8s %10s %8s", "objects", "fds", "RSS (kB)", "s"))
print(string.format("%8d %8d %10d %8.1f", 0, start_fds, start_rss, 0))
local wall0 = os.time()
local peak_fds, warm_rss = start_fds, nil
for i = 1, objects do
  local o = BPF{text = src}
  assert(o:num_attached() == 1)
  if i % 1000 == 0 or i == objects then
    local fds = fd_count()
    peak_fds = math.max(peak_fds, fds)
    local rss = rss_kb()
    warm_rss = warm_rss or rss
    print(string.format("%8d %8d %10d %8d", i, fds, rss, os.time() - wall0))
  end
end
collectgarbage()
collectgarbage()
local end_fds, end_rss = fd_count(), rss_kb()
print(string.format("after a full collection: %d fds, %d kB RSS", end_fds, end_rss))
check(end_fds == start_fds, "objects: descriptors back to where they started")
check(peak_fds - start_fds < 400, "objects: descriptors bounded while dropping (peak +" .. (peak_fds - start_fds) .. ")")
check(end_rss - (warm_rss or end_rss) < 20 * 1024,
  string.format("objects: RSS flat after the first 1000 (+%d kB)", end_rss - (warm_rss or end_rss)))

if failures > 0 then
  print(failures .. " check(s) FAILED")
  os.exit(1)
end
print("all checks passed")
