-- bcc inlines a program's static functions into each probe that calls them (it marks them
-- always_inline); so does bpflua. The shape that needs it, after bcc's virtiostat: a helper
-- with nested loops over a request's scatterlists, called three times from a probe on
-- virtqueue_add_sgs (for the buffers the device reads and those it writes). As a BPF-to-BPF
-- call (bytes_in marked __attribute__((__noinline__))), 6.1's verifier stops at its
-- million-instruction limit on it ("processed 1000001 insns"); inlined, as bcc compiles it,
-- it loads. In the VM, 9p over virtio carries this process's file reads, so each read the
-- spec makes goes through virtqueue_add_sgs in its own context.
local BPF = require("bpflua")
local h = require("spec.helpers")

local PROGRAM = [[
#define MAX_LISTS 6
#define MAX_ENTRIES 128

struct totals {
  u32 outs, ins;
  u64 out_bytes, in_bytes;
};
BPF_HASH(per_queue, u64, struct totals);

/* The entry after sg in its scatterlist, following a chain link; NULL after the last. */
static struct scatterlist *following(struct scatterlist *sg)
{
  struct scatterlist entry;
  bpf_probe_read_kernel(&entry, sizeof(entry), sg);
  if (sg_is_last(&entry))
    return NULL;
  sg++;
  bpf_probe_read_kernel(&entry, sizeof(entry), sg);
  if (sg_is_chain(&entry))
    sg = (struct scatterlist *)(entry.page_link & ~SG_PAGE_LINK_MASK);
  return sg;
}

/* The bytes in the first count (at most MAX_LISTS) scatterlists of lists. */
HELPER_ATTR static u64 bytes_in(struct scatterlist **lists, unsigned int count)
{
  u64 bytes = 0;
  unsigned int i, n;
  struct scatterlist *sg = NULL;
  for (i = 0; i < MAX_LISTS && i < count; i++) {
    for (n = 0, sg = lists[i]; sg && n < MAX_ENTRIES; sg = following(sg)) {
      bytes += sg->length;
      n++;
    }
    /* Keeps LLVM from widening i's bound past what the verifier follows. */
    asm volatile("" : "=r"(i) : "0"(i));
  }
  return bytes;
}

static void count(struct virtqueue *vq, struct scatterlist **sgs, unsigned int outs,
                  unsigned int ins)
{
  u64 key = (u64)vq, in_bytes = 0;
  if (ins)
    in_bytes = bytes_in(sgs + outs, ins);
  struct totals *t = per_queue.lookup(&key);
  if (!t) {
    struct totals first = {.outs = outs, .ins = ins, .in_bytes = in_bytes};
    if (outs)
      first.out_bytes = bytes_in(sgs, outs);
    per_queue.update(&key, &first);
  } else {
    t->outs += outs;
    t->ins += ins;
    if (outs)
      t->out_bytes += bytes_in(sgs, outs);
    t->in_bytes += in_bytes;
  }
}

int on_add_sgs(struct pt_regs *ctx, struct virtqueue *vq, struct scatterlist **sgs,
               unsigned int outs, unsigned int ins)
{
  if ((bpf_get_current_pid_tgid() >> 32) == PID)
    count(vq, sgs, outs, ins);
  return 0;
}
]]

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  return data
end

-- The queues' totals summed: requests and replies, and their bytes.
local function totals(per_queue)
  local sum = {outs = 0, ins = 0, out_bytes = 0, in_bytes = 0}
  for _, t in per_queue:items() do
    for k in pairs(sum) do
      sum[k] = sum[k] + tonumber(t[k])
    end
  end
  return sum
end

describe("static helpers #kernel #vm", function()
  setup(function()
    assert(h.require_kprobes())
  end)

  it("are inlined as bcc inlines them: nested scatterlist loops called three times load on 6.1", function()
    local b = BPF{text = PROGRAM, cflags = {"-DPID=" .. h.getpid(), "-DHELPER_ATTR="}}
    b:attach_kprobe{event = "virtqueue_add_sgs", fn_name = "on_add_sgs"}
    -- Read until the probe has seen this process's requests (the guest's root is the host's,
    -- shared over virtio 9p).
    local deadline, sum = os.time() + 30
    repeat
      read_file("/etc/os-release")
      sum = totals(b["per_queue"])
    until sum.ins > 0 or os.time() > deadline
    assert.is_true(sum.outs > 0 and sum.ins > 0, "no virtqueue_add_sgs request of this process seen")
    -- A 9p request and its reply both carry bytes: the loops walked the scatterlists.
    assert.is_true(sum.out_bytes > 0 and sum.in_bytes > 0,
      "requests and replies have bytes: " .. sum.out_bytes .. ", " .. sum.in_bytes)
    b:cleanup()
  end)
end)
