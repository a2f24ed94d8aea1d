-- biosnoop.lua: trace each block device I/O with its process, disk, size and latency, as
-- bcc's biosnoop.
local BPF = require("bpflua")
local ffi = require("ffi")
local disks = require("bpflua.disks")
local opts = require("bpflua.args").parse(arg, {
  usage = "biosnoop.lua [-h] [-Q] [-d DISK] [-P]",
  description = "Trace block I/O",
  {"-Q", "--queue", "queue", "flag", "include OS queued time"},
  {"-d", "--disk", "disk", "string", "trace this disk only"},
  {"-P", "--pattern", "pattern", "flag", "display block I/O pattern (sequential or random)"},
  examples = [[examples:
    biosnoop.lua           # trace all block I/O
    biosnoop.lua -Q        # include OS queued time
    biosnoop.lua -d sdc    # trace sdc only
    biosnoop.lua -P        # display block I/O pattern]],
})
local dev = 0
if opts.disk then
  dev = disks.dev(opts.disk)
  if not dev then
    print("no such disk '" .. opts.disk .. "'")
    os.exit(1)
  end
end

-- Who asked for an I/O is known where it is accounted (block_io_start, Linux 6.5+; before,
-- where it is queued); it ends at block_io_done, or block_rq_complete before 6.5.
local new_kernel = BPF.tracepoint_exists("block", "block_io_done")
local begin_tp = new_kernel and "block_io_start" or "block_rq_insert"
local end_tp = new_kernel and "block_io_done" or "block_rq_complete"

local b = BPF{text = ([[
  struct request_id { u64 dev; u64 sector; };   /* no padding: the whole key is hashed */
  struct who { u64 ts; u32 pid; char name[TASK_COMM_LEN]; };
  struct event {
    u64 ts, delta, qdelta, sector;
    u32 pid, dev, len, rwflag, pattern;
    char name[TASK_COMM_LEN];
  };
  BPF_HASH(whobyreq, struct request_id, struct who, 10240);
  struct issue { u64 ts; u64 len; };
  BPF_HASH(issued, struct request_id, struct issue, 10240);
  BPF_HASH(last_sector, u64, u64, 256);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(block, BEGIN_TP) {
    if (DEV && args->dev != DEV) return 0;
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    struct who w = {.ts = bpf_ktime_get_ns(), .pid = bpf_get_current_pid_tgid() >> 32};
    bpf_get_current_comm(&w.name, sizeof(w.name));
    whobyreq.update(&id, &w);
    return 0;
  }

  TRACEPOINT_PROBE(block, block_rq_issue) {
    if (DEV && args->dev != DEV) return 0;
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    u64 ts = bpf_ktime_get_ns();
    /* the size as issued: block_io_done reports what is left, nothing */
    struct issue is = {.ts = ts, .len = args->nr_sector * 512ULL};
    issued.update(&id, &is);
    if (!whobyreq.lookup(&id)) {
      /* accounted before tracing began: the issuer is the best guess, as bcc's */
      struct who w = {.ts = ts, .pid = bpf_get_current_pid_tgid() >> 32};
      bpf_probe_read_kernel(&w.name, sizeof(w.name), args->comm);
      whobyreq.update(&id, &w);
    }
    return 0;
  }

  TRACEPOINT_PROBE(block, END_TP) {
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    struct issue *is = issued.lookup(&id);
    struct who *w = whobyreq.lookup(&id);
    if (!is || !w) return 0;
    u64 now = bpf_ktime_get_ns();
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (e) {
      e->ts = now / 1000;
      e->delta = now - is->ts;
      e->qdelta = is->ts > w->ts ? is->ts - w->ts : 0;
      e->sector = args->sector;
      e->len = is->len;
      e->dev = args->dev;
      e->pid = w->pid;
      char op;
      bpf_probe_read_kernel(&op, 1, args->rwbs);
      e->rwflag = op == 'W';
      u64 disk = args->dev;
      u64 *last = last_sector.lookup(&disk);
      e->pattern = !last ? 0 : *last == args->sector ? 1 : 2;
      u64 next = args->sector + is->len / 512;
      last_sector.update(&disk, &next);
      __builtin_memcpy(e->name, w->name, sizeof(e->name));
      events.ringbuf_submit(e, 0);
    }
    issued.delete(&id);
    whobyreq.delete(&id);
    return 0;
  }
]]):gsub("BEGIN_TP", begin_tp):gsub("END_TP", end_tp), cflags = {"-DDEV=" .. dev}}

local events = b["events"]
local start_ts
io.stdout:setvbuf("line")
print(string.format("%-11s %-14s %-7s %-9s %-1s %-10s %-7s", "TIME(s)", "COMM", "PID", "DISK", "T",
  "SECTOR", "BYTES") .. (opts.pattern and "P " or "") .. (opts.queue and string.format("%7s ", "QUE(ms)") or "") ..
  string.format("%7s", "LAT(ms)"))
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  start_ts = start_ts or e.ts
  local line = string.format("%-11.6f %-14.14s %-7s %-9s %-1s %-10s %-7s", tonumber(e.ts - start_ts) / 1e6,
    ffi.string(e.name), e.pid, disks.name(e.dev), e.rwflag == 1 and "W" or "R", tostring(e.sector):gsub("ULL$", ""),
    e.len)
  if opts.pattern then
    line = line .. (e.pattern == 1 and "S" or e.pattern == 2 and "R" or "?") .. " "
  end
  if opts.queue then
    line = line .. string.format("%7.2f ", tonumber(e.qdelta) / 1e6)
  end
  print(line .. string.format("%7.2f", tonumber(e.delta) / 1e6))
end)
while true do
  b:ring_buffer_poll()
end
