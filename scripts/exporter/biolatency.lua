-- Example exporter config: block I/O latency (issue to completion) as a histogram in
-- seconds, per disk, with the total time for _sum.
--   bpflua scripts/exporter.lua scripts/exporter/biolatency.lua
local function disk_name(dev)
  -- dev_t as the kernel packs it: major in the high 12 bits, minor in the low 20
  local major, minor = math.floor(dev / 2 ^ 20), dev % 2 ^ 20
  local f = io.open(string.format("/sys/dev/block/%d:%d/uevent", major, minor))
  local name = f and f:read("*a"):match("DEVNAME=(%S+)")
  if f then
    f:close()
  end
  return name or string.format("%d:%d", major, minor)
end

-- Where an I/O ends: block_io_done (Linux 6.5+) sees every completion, batched ones too;
-- block_rq_complete misses those that a driver completes in a batch.
local BPF = require("bpflua")
local complete = BPF.tracepoint_exists("block", "block_io_done") and "block_io_done" or "block_rq_complete"

return {programs = {{
  text = ([[
    /* keys without padding: the kernel hashes every byte of a key */
    struct request_id { u64 dev; u64 sector; };
    struct disk_slot { u64 dev; u64 slot; };
    BPF_HASH(issued, struct request_id, u64, 10240);
    BPF_HISTOGRAM(latency, struct disk_slot, 64 * 64);
    BPF_HASH(latency_total, u64, u64, 64);

    TRACEPOINT_PROBE(block, block_rq_issue) {
      struct request_id id = {.dev = args->dev, .sector = args->sector};
      u64 ts = bpf_ktime_get_ns();
      issued.update(&id, &ts);
      return 0;
    }

    TRACEPOINT_PROBE(block, COMPLETE_TRACEPOINT) {
      struct request_id id = {.dev = args->dev, .sector = args->sector};
      u64 *ts = issued.lookup(&id);
      if (!ts)
        return 0;
      u64 ns = bpf_ktime_get_ns() - *ts;
      issued.delete(&id);
      struct disk_slot key = {.dev = id.dev, .slot = bpf_log2l(ns)};
      latency.atomic_increment(key);
      latency_total.atomic_increment(id.dev, ns);
      return 0;
    }
  ]]):gsub("COMPLETE_TRACEPOINT", complete),
  metrics = {{
    table = "latency", name = "bpflua_bio_latency_seconds", type = "histogram",
    help = "Block I/O latency from issue to completion.",
    labels = {{name = "disk", map = disk_name}}, scale = 1e-9, sum = "latency_total",
  }},
}}}
