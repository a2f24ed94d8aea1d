-- biolatency.lua: block device I/O latency as a histogram, as bcc's biolatency.
local BPF = require("bpflua")
local disks = require("bpflua.disks")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "biolatency.lua [-h] [-T] [-Q] [-m] [-D] [-F] [-e] [-j] [-d DISK] [interval] [count]",
  description = "Summarize block device I/O latency as a histogram",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-Q", "--queued", "queued", "flag", "include OS queued time in I/O time"},
  {"-m", "--milliseconds", "milliseconds", "flag", "millisecond histogram"},
  {"-D", "--disks", "disks", "flag", "print a histogram per disk device"},
  {"-F", "--flags", "flags", "flag", "print a histogram per set of I/O flags"},
  {"-e", "--extension", "extension", "flag", "summarize average/total value"},
  {"-j", "--json", "json", "flag", "json output"},
  {"-d", "--disk", "disk", "string", "trace this disk only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    biolatency.lua                  # summarize block I/O latency as a histogram
    biolatency.lua 1 10             # print 1 second summaries, 10 times
    biolatency.lua -mT 1            # 1s summaries, milliseconds, and timestamps
    biolatency.lua -Q               # include OS queued time in I/O time
    biolatency.lua -D               # show each disk device separately
    biolatency.lua -F               # show I/O flags separately
    biolatency.lua -d sdc           # trace sdc only
    biolatency.lua -e               # show extension summary(average/total)
    biolatency.lua -j               # print a dictionary]],
})
if opts.disks and opts.flags then
  print("ERROR: can only use -D or -F. Exiting.")
  os.exit(1)
end
local dev = 0
if opts.disk then
  dev = disks.dev(opts.disk)
  if not dev then
    print("no such disk '" .. opts.disk .. "'")
    os.exit(1)
  end
end

-- Where an I/O ends: block_io_done (Linux 6.5+) sees every completion, batched ones too;
-- block_rq_complete misses those that a driver completes in a batch.
local complete = BPF.tracepoint_exists("block", "block_io_done") and "block_io_done" or "block_rq_complete"

local b = BPF{text = ([[
  struct request_id { u64 dev; u64 sector; };  /* no padding: the whole key is hashed */
  BPF_HASH(start, struct request_id, u64, 10240);
  #if PER_DISK
  struct disk_key { u64 dev; u64 slot; };
  BPF_HISTOGRAM(dist, struct disk_key);
  #elif PER_FLAGS
  struct flags_key { char rwbs[8]; u64 slot; };
  BPF_HISTOGRAM(dist, struct flags_key);
  #else
  BPF_HISTOGRAM(dist);
  #endif
  struct ext_val { u64 total; u64 count; };
  BPF_ARRAY(extension, struct ext_val, 1);

  static int started(u32 dev, u64 sector)
  {
    if (DEV && dev != DEV) return 0;
    struct request_id id = {.dev = dev, .sector = sector};
    u64 ts = bpf_ktime_get_ns();
    start.update(&id, &ts);
    return 0;
  }

  #if QUEUED
  TRACEPOINT_PROBE(block, block_rq_insert) { return started(args->dev, args->sector); }
  #endif

  TRACEPOINT_PROBE(block, block_rq_issue) {
    /* with -Q the time runs from the insert; an I/O issued without one starts here */
    if (QUEUED) {
      struct request_id id = {.dev = args->dev, .sector = args->sector};
      if (start.lookup(&id)) return 0;
    }
    return started(args->dev, args->sector);
  }

  TRACEPOINT_PROBE(block, COMPLETE_TRACEPOINT) {
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    u64 *ts = start.lookup(&id);
    if (!ts) return 0;
    u64 delta = (bpf_ktime_get_ns() - *ts) / UNIT_NS;
    start.delete(&id);
    if (EXTENSION) {
      int zero = 0;
      struct ext_val *e = extension.lookup(&zero);
      if (e) {
        __sync_fetch_and_add(&e->total, delta);
        __sync_fetch_and_add(&e->count, 1);
      }
    }
  #if PER_DISK
    struct disk_key key = {.dev = id.dev, .slot = bpf_log2l(delta)};
    dist.atomic_increment(key);
  #elif PER_FLAGS
    struct flags_key key = {.slot = bpf_log2l(delta)};
    bpf_probe_read_kernel(key.rwbs, sizeof(key.rwbs), args->rwbs);
    dist.atomic_increment(key);
  #else
    dist.atomic_increment(bpf_log2l(delta));
  #endif
    return 0;
  }
]]):gsub("COMPLETE_TRACEPOINT", complete), cflags = {"-DUNIT_NS=" .. (opts.milliseconds and 1000000 or 1000),
              "-DQUEUED=" .. (opts.queued and 1 or 0), "-DPER_DISK=" .. (opts.disks and 1 or 0),
              "-DPER_FLAGS=" .. (opts.flags and 1 or 0), "-DEXTENSION=" .. (opts.extension and 1 or 0),
              "-DDEV=" .. dev}}

local label = opts.milliseconds and "msecs" or "usecs"
local dist, extension = b["dist"], b["extension"]

-- -j: bcc's print_json_hist (bcc keys its sections "disk" unless -F, and prints no -e summary)
local function report_json()
  intervals.header(opts.timestamp)
  if opts.flags then
    dist:print_json_hist(label, "flags", disks.flags_text)
  else
    dist:print_json_hist(label, "disk", disks.name)
  end
  dist:clear()
end

local function report()
  if opts.json then
    return report_json()
  end
  intervals.header(opts.timestamp)
  if opts.flags then
    dist:print_log2_hist(label, "flags", disks.flags_text)
  elseif opts.disks then
    dist:print_log2_hist(label, "disk", disks.name)
  else
    dist:print_log2_hist(label)
  end
  if opts.extension then
    local e = extension:get(0)
    local total, count = tonumber(e.total), tonumber(e.count)
    if count > 0 then
      print(string.format("\navg = %d %s, total: %d %s, count: %d\n", math.floor(total / count),
        label, total, label, count))
    end
    extension:zero()
  end
  dist:clear()
end

io.stdout:setvbuf("line")
if not opts.json then
  print("Tracing block device I/O... Hit Ctrl-C to end.")
end
intervals.run{interval = opts.interval, count = opts.count, report = report}
