-- biotop.lua: block device (disk) I/O by process, a top-like summary every interval, as
-- bcc's biotop.
-- Probes: the block tracepoints, where bcc uses kprobes on blk_account_io_start,
-- blk_mq_start_request and blk_account_io_done: the requester where the I/O is accounted
-- (block:block_io_start, Linux 6.5+; before, where it is queued: block_rq_insert, or its
-- issuer), its size and start at block_rq_issue, its end at block_io_done (6.5+) or
-- block_rq_complete.
local BPF = require("bpflua")
local ffi = require("ffi")
local disks = require("bpflua.disks")
local intervals = require("bpflua.intervals")
local opts = require("bpflua.args").parse(arg, {
  usage = "biotop.lua [-h] [-C] [-r MAXROWS] [-p PID] [interval] [count]",
  description = "Block device (disk) I/O by process",
  {"-C", "--noclear", "noclear", "flag", "don't clear the screen"},
  {"-r", "--maxrows", "maxrows", "number", "maximum rows to print, default 20", default = 20},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    biotop.lua            # block device I/O top, 1 second refresh
    biotop.lua -C         # don't clear the screen
    biotop.lua -p 181     # only trace PID 181
    biotop.lua 5          # 5 second summaries
    biotop.lua 5 10       # 5 second summaries, 10 times only
Probes the block tracepoints (block_io_start/block_rq_insert, block_rq_issue,
block_io_done/block_rq_complete) where bcc uses kprobes.]],
})
local interval = opts.interval or 1

local new_kernel = BPF.tracepoint_exists("block", "block_io_done")
local b = BPF{text = ([[
  struct request_id { u64 dev; u64 sector; };   /* no padding: the whole key is hashed */
  struct start_req_t { u64 ts; u64 data_len; };
  struct who_t { u32 pid; char name[TASK_COMM_LEN]; };
  struct info_t { u32 pid; int rwflag; int major; int minor; char name[TASK_COMM_LEN]; };
  struct val_t { u64 bytes; u64 us; u32 io; };
  BPF_HASH(start, struct request_id, struct start_req_t, 10240);
  BPF_HASH(whobyreq, struct request_id, struct who_t, 10240);
  BPF_HASH(counts, struct info_t, struct val_t, 10240);

  static void remember_who(u64 dev, u64 sector)
  {
    struct request_id id = {.dev = dev, .sector = sector};
    struct who_t who = {.pid = bpf_get_current_pid_tgid() >> 32};
    bpf_get_current_comm(&who.name, sizeof(who.name));
    whobyreq.update(&id, &who);
  }

  TRACEPOINT_PROBE(block, BEGIN_TP) {
    remember_who(args->dev, args->sector);
    return 0;
  }

  TRACEPOINT_PROBE(block, block_rq_issue) {
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    struct start_req_t s = {.ts = bpf_ktime_get_ns(), .data_len = args->nr_sector * 512ULL};
    start.update(&id, &s);
    if (!whobyreq.lookup(&id))
      remember_who(args->dev, args->sector);   /* not queued through an insert: the issuer */
    return 0;
  }

  TRACEPOINT_PROBE(block, END_TP) {
    struct request_id id = {.dev = args->dev, .sector = args->sector};
    struct start_req_t *startp = start.lookup(&id);
    if (!startp) return 0;   /* issued before tracing began */
    struct who_t *whop = whobyreq.lookup(&id);
    u32 pid = whop ? whop->pid : 0;
    if (PID && pid != PID) {
      start.delete(&id);
      whobyreq.delete(&id);
      return 0;
    }
    struct info_t info = {.pid = pid, .major = args->dev >> 20, .minor = args->dev & 0xfffff};
    char op = 0;
    bpf_probe_read_kernel(&op, 1, args->rwbs);
    info.rwflag = op == 'W';
    if (whop)
      __builtin_memcpy(info.name, whop->name, sizeof(info.name));
    struct val_t zero = {};
    struct val_t *valp = counts.lookup_or_try_init(&info, &zero);
    if (valp) {
      __sync_fetch_and_add(&valp->us, (bpf_ktime_get_ns() - startp->ts) / 1000);
      __sync_fetch_and_add(&valp->bytes, startp->data_len);
      __sync_fetch_and_add(&valp->io, 1);
    }
    start.delete(&id);
    whobyreq.delete(&id);
    return 0;
  }
]]):gsub("BEGIN_TP", new_kernel and "block_io_start" or "block_rq_insert")
   :gsub("END_TP", new_kernel and "block_io_done" or "block_rq_complete"),
  cflags = {"-DPID=" .. (opts.pid or 0)}}

-- Python's str() of a float, as bcc prints Kbytes: 192.0, 4.5
local function py_float(x)
  if x == math.floor(x) then
    return string.format("%d.0", x)
  end
  return string.format("%.15g", x)
end

local counts = b["counts"]
local function report()
  intervals.top_header(opts.noclear)
  print(string.format("%-7s %-16s %1s %-3s %-3s %-8s %5s %7s %6s", "PID", "COMM", "D", "MAJ", "MIN",
    "DISK", "I/O", "Kbytes", "AVGms"))
  local rows = {}
  for k, v in counts:items() do
    rows[#rows + 1] = {pid = k.pid, name = ffi.string(k.name), rwflag = k.rwflag, major = k.major,
      minor = k.minor, io = tonumber(v.io), bytes = tonumber(v.bytes), us = tonumber(v.us)}
  end
  table.sort(rows, function(x, y) return x.bytes > y.bytes end)
  for i = 1, math.min(#rows, opts.maxrows) do
    local r = rows[i]
    print(string.format("%-7d %-16s %1s %-3d %-3d %-8s %5s %7s %6.2f", r.pid, r.name,
      r.rwflag == 1 and "W" or "R", r.major, r.minor, disks.name(r.major * 2 ^ 20 + r.minor), r.io,
      py_float(r.bytes / 1024), r.us / 1000 / r.io))
  end
  counts:clear()
end

io.stdout:setvbuf("line")
print(string.format("Tracing... Output every %d secs. Hit Ctrl-C to end", interval))
intervals.run{interval = interval, count = opts.count, report = report, detaching = true}
