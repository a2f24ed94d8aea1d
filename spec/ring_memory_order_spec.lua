-- The ring readers' memory order (lua/bpflua/memory_order.lua): the C acquire/release
-- helpers that architectures other than x86-64 use, and both readers (ring buffer, perf
-- buffer) running on them end to end. BPFLUA_RING_ATOMICS=1 makes a process take that path
-- on x86-64, so the readers run in a child bpflua with it set.
local ffi = require("ffi")
local h = require("spec.helpers")

-- Fills a ring buffer and a 1-page perf buffer (whose records then wrap around its end)
-- with numbered events from the child's own getpriority calls, drains both, and prints what
-- it got.
local child = [[
local BPF = require("bpflua")
local ffi = require("ffi")
ffi.cdef("int getpriority(int which, int who); int getpid(void);")
assert(not require("bpflua.memory_order").plain, "the C helpers are not in use")
local b = BPF{text = [=[
  struct event { u64 seq; char pad[20]; };
  BPF_RINGBUF_OUTPUT(ring, 4);
  BPF_PERF_OUTPUT(perf);
  TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
    struct event e = {args->who};
    ring.ringbuf_output(&e, sizeof(e), 0);
    perf.perf_submit(args, &e, sizeof(e));
    return 0;
  }
]=], cflags = {"-DPID=" .. ffi.C.getpid()}}
local ring_sum, ring_n, perf_sum, perf_n = 0, 0, 0, 0
b["ring"]:open_ring_buffer(function(_, data)
  ring_sum, ring_n = ring_sum + tonumber(b["ring"]:event(data).seq), ring_n + 1
end)
b["perf"]:open_perf_buffer(function(_, data)
  perf_sum, perf_n = perf_sum + tonumber(b["perf"]:event(data).seq), perf_n + 1
end, 1)
local expected = 0
for round = 1, 20 do
  for i = 1, 50 do
    local seq = round * 1000 + i
    expected = expected + seq
    ffi.C.getpriority(0, seq)
  end
  b:ring_buffer_consume()
  b:perf_buffer_consume()
end
print(ring_n, ring_sum == expected, perf_n, perf_sum == expected)
]]

describe("ring memory order", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("loads and stores through the C acquire/release helpers", function()
    local lib = require("bpflua.cdefs")
    local u64, s32 = ffi.new("uint64_t[1]", 0x123456789ULL), ffi.new("int32_t[1]", -5)
    assert.are.equal(0x123456789ULL, lib.bpflua_load_acquire_u64(u64))
    assert.are.equal(-5, lib.bpflua_load_acquire_s32(s32))
    lib.bpflua_store_release_u64(u64, 42)
    assert.are.equal(42ULL, u64[0])
  end)

  it("drain rings and wrapping perf rings completely with the C helpers", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write(child)
    f:close()
    local p = io.popen("BPFLUA_RING_ATOMICS=1 bpflua " .. path .. " 2>&1")
    local out = p:read("*a")
    p:close()
    os.remove(path)
    assert.are.equal("1000\ttrue\t1000\ttrue\n", out)
  end)
end)
