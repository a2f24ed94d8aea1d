-- Perf buffers: BPF_PERF_OUTPUT and perf_submit in C, open_perf_buffer, perf_buffer_poll and
-- perf_buffer_consume in Lua, with events made by this process's getpriority() calls.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

local probe = h.probe

ffi.cdef[[
int sched_getaffinity(int pid, size_t size, uint8_t *mask);
int sched_setaffinity(int pid, size_t size, const uint8_t *mask);
]]

-- Runs fn on CPU 0 only: each CPU has its own perf ring, and the lost-samples record is
-- written into the ring that overflowed.
local function on_cpu0(fn)
  local saved, cpu0 = ffi.new("uint8_t[128]"), ffi.new("uint8_t[128]", 1)
  assert(ffi.C.sched_getaffinity(0, 128, saved) == 0)
  assert(ffi.C.sched_setaffinity(0, 128, cpu0) == 0)
  local ok, err = pcall(fn)
  ffi.C.sched_setaffinity(0, 128, saved)
  assert(ok, err)
end

local open_fds = h.open_fds

describe("perf buffers #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("deliver each perf_submit to the callback with its CPU, typed by the C struct", function()
    local b = probe([[
      struct event_t { u32 pid; u32 who; u64 which; char comm[16]; };
      BPF_PERF_OUTPUT(events);
    ]], [[
      struct event_t e = {};
      e.pid = bpf_get_current_pid_tgid() >> 32;
      e.who = args->who;
      e.which = args->which;
      bpf_get_current_comm(e.comm, sizeof(e.comm));
      events.perf_submit(args, &e, sizeof(e));
    ]])
    local events = b["events"]
    local got, cpus, kept = {}, {}, nil
    events:open_perf_buffer(function(cpu, data, size)
      local e = events:event(data)
      got[#got + 1] = tonumber(e.who) * 1000 + tonumber(e.which)
      cpus[cpu] = true
      assert.is_true(size >= ffi.sizeof(events:event_type()))
      assert.are.equal(h.getpid(), e.pid)
      kept = kept or events:copy(data)
    end)
    assert.matches("<BPF perf buffer 'events': open on %d+ CPUs, events struct event_t>", tostring(events))
    for i = 1, 100 do
      h.getpriority(i, 2)
    end
    local n = 0
    while n < 100 do
      local polled = b:perf_buffer_poll(1000)
      assert.is_true(polled > 0, "perf_buffer_poll timed out after " .. n .. " events")
      n = n + polled
    end
    assert.are.equal(100, #got)
    table.sort(got)
    for i = 1, 100 do
      assert.are.equal(i * 1000 + 2, got[i])
    end
    local ncpus = require("bpflua.cdefs").libbpf_num_possible_cpus()
    for cpu in pairs(cpus) do
      assert.is_true(cpu >= 0 and cpu < ncpus, "CPU " .. cpu)
    end
    collectgarbage()
    assert.are.equal(1, tonumber(kept.who))
    assert.is_true(ffi.string(kept.comm):len() > 0)
    assert.are.equal(0, b:perf_buffer_consume())
    assert.are.equal(0, events:lost())
    b:cleanup()
  end)

  it("read records that wrap around the end of a CPU's ring intact", function()
    -- 48-byte records (8 header + 4 size + 36 data) do not divide the 4096-byte ring, so
    -- the stream wraps in the middle of records; the data is a pattern to check.
    local b = probe([[
      struct event_t { u32 seq; u32 words[8]; };
      BPF_PERF_OUTPUT(events);
    ]], [[
      struct event_t e;
      e.seq = args->who;
      for (int i = 0; i < 8; i++) e.words[i] = args->who * 8 + i;
      events.perf_submit(args, &e, sizeof(e));
    ]])
    local events = b["events"]
    local seen, bad = 0, {}
    events:open_perf_buffer(function(_, data, size)
      local e = events:event(data)
      for i = 0, 7 do
        if e.words[i] ~= e.seq * 8 + i then
          bad[#bad + 1] = string.format("seq %d word %d = %d", e.seq, i, e.words[i])
        end
      end
      assert.are.equal(36, size)
      seen = seen + 1
    end, 1)
    local seq = 0
    for _ = 1, 40 do
      for _ = 1, 50 do
        seq = seq + 1
        h.getpriority(seq, 3)
      end
      b:perf_buffer_consume()
    end
    assert.are.equal(2000, seen)
    assert.are.same({}, bad)
    b:cleanup()
  end)

  it("report samples lost to a full ring through lost_cb", function()
    local b = probe([[
      struct event_t { u64 seq; u64 pad; };
      BPF_PERF_OUTPUT(events);
    ]], [[
      int n = args->who == 1 ? 1000 : 1;
      for (int i = 0; i < n; i++) {
        struct event_t e = {i, 0};
        events.perf_submit(args, &e, sizeof(e));
      }
    ]])
    local received, lost, calls = 0, 0, 0
    b["events"]:open_perf_buffer(function() received = received + 1 end, 1,
      function(count) lost, calls = lost + count, calls + 1 end)
    on_cpu0(function()
      h.getpriority(1, 4)    -- 1000 samples into a one-page ring: most are lost
      b:perf_buffer_consume()
      h.getpriority(2, 4)    -- one more: the kernel writes the lost record before it
      b:perf_buffer_consume()
    end)
    assert.is_true(lost > 0 and calls >= 1)
    assert.are.equal(1001, received + lost)
    assert.are.equal(lost, b["events"]:lost())
    b:cleanup()
  end)

  it("give clear errors and leave no descriptors or kernel objects behind", function()
    local before, fds = h.kernel_objects(), open_fds()
    local b = probe([[
      struct event_t { u64 x; };
      BPF_PERF_OUTPUT(events);
    ]], [[
      struct event_t e = {1};
      events.perf_submit(args, &e, sizeof(e));
    ]])
    assert.has_error(function() b:perf_buffer_poll(0) end,
      "perf_buffer_poll: no perf buffer is open; call b[\"name\"]:open_perf_buffer(fn) first")
    assert.has_error(function() b["events"]:open_perf_buffer(function() end, 3) end,
      "open_perf_buffer: page_cnt must be a power of two, not 3")
    assert.has_error(function() b["events"]:open_perf_buffer("nope") end,
      "open_perf_buffer: expected a function(cpu, data, size)")
    b["events"]:open_perf_buffer({callback = function() end, page_cnt = 2})
    assert.has_error(function() b["events"]:open_perf_buffer(function() end) end,
      "open_perf_buffer: perf buffer 'events' is already open")
    h.getpriority(1)
    assert.are.equal(1, b:perf_buffer_poll(1000))
    b:cleanup()
    assert.are.equal(fds, open_fds())
    h.assert_kernel_objects(before)
  end)

  it("name a perf buffer whose event type the source does not show", function()
    local b = probe([[BPF_PERF_OUTPUT(events);]], [[
      u64 x = 1;
      events.perf_submit(args, (void *)&x, 8);
    ]])
    -- A u64 is a type too: only a void pointer with no other hint leaves it unknown.
    assert.are.equal(8, ffi.sizeof(b["events"]:event_type()))
    local b2 = probe([[BPF_PERF_OUTPUT(events);]], [[
      char buf[8] = {};
      void *p = buf;
      events.perf_submit(args, p, 8);
    ]])
    assert.has_error(function() b2["events"]:event(nil) end,
      "perf buffer 'events': no event type is known, because the BPF source never passes a " ..
      "typed pointer to events.perf_submit(); ffi.cast data to your own ffi.cdef type")
    b:cleanup()
    b2:cleanup()
  end)

  it("reject methods that BPF_PERF_OUTPUT and BPF_STACK_TRACE do not have, with line and column", function()
    local ok, err = pcall(BPF.new, {text = [[
BPF_PERF_OUTPUT(events);
BPF_STACK_TRACE(stacks, 16);
int f(void *ctx) { u64 x = 1; events.ringbuf_output(&x, 8, 0); return stacks.walk(ctx); }
]]})
    assert.is_false(ok)
    -- line and column in this file, where the text's line 3 is
    local line = debug.getinfo(1, "l").currentline - 4
    assert.matches("perf_buffer_spec.lua:" .. line .. ":38: error: BPF_PERF_OUTPUT 'events' has no method 'ringbuf_output' (it has perf_submit)", err, 1, true)
    assert.matches("perf_buffer_spec.lua:" .. line .. ":78: error: BPF_STACK_TRACE 'stacks' has no method 'walk' (it has get_stackid)", err, 1, true)
  end)
end)
