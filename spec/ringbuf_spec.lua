-- Ring buffers end to end: the BPF methods, the Lua consumer, event layouts, ordering across
-- wraps, drop counts and bad input. Events come from this process's own getpriority() calls,
-- filtered on its pid, so each spec knows exactly what the kernel should have sent.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

local probe = h.probe

describe("ring buffers #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("deliver ringbuf_output records as typed events, with ctx passed through", function()
    local b = probe([[
      struct event { u64 which; u64 who; char comm[16]; };
      BPF_RINGBUF_OUTPUT(events, 8);
    ]], [[
      struct event e = {};
      e.which = args->which;
      e.who = args->who;
      bpf_get_current_comm(&e.comm, sizeof(e.comm));
      events.ringbuf_output(&e, sizeof(e), 0);
    ]])
    local events = b:get_table("events")
    assert.are.equal(events, b["events"])
    local seen = {}
    local context = {tag = "mine"}
    events:open_ring_buffer(function(ctx, data, size)
      local e = events:event(data)
      seen[#seen + 1] = {ctx = ctx, which = tonumber(e.which), who = tonumber(e.who),
                         comm = ffi.string(e.comm), size = size}
    end, context)
    h.getpriority(11, 1)
    h.getpriority(22, 2)
    assert.are.equal(2, b:ring_buffer_poll(1000))
    local comm = io.open("/proc/self/comm"):read("*l")
    assert.are.same({ctx = context, which = 1, who = 11, comm = comm, size = 32}, seen[1])
    assert.are.same({ctx = context, which = 2, who = 22, comm = comm, size = 32}, seen[2])
    assert.are.equal(0, b:ring_buffer_consume())
    assert.are.equal(0, events:dropped())
    b:cleanup()
  end)

  it("deliver reserved and submitted records, and never discarded ones", function()
    local b = probe([[
      struct event { u32 n; u32 pad; };
      BPF_RINGBUF_OUTPUT(events, 4);
    ]], [[
      struct event *e = events.ringbuf_reserve(sizeof(*e));
      if (!e) return 0;
      e->n = args->who;
      if (args->which == 1)
        events.ringbuf_discard(e, 0);
      else
        events.ringbuf_submit(e, 0);
    ]])
    local got = {}
    b["events"]:open_ring_buffer(function(_, data)
      got[#got + 1] = b["events"]:event(data).n
    end)
    h.getpriority(1, 0)
    h.getpriority(2, 1) -- discarded
    h.getpriority(3, 0)
    assert.are.equal(2, b:ring_buffer_consume())
    assert.are.same({1, 3}, got)
    b:cleanup()
  end)

  it("answer ringbuf_query for the ring's size and positions", function()
    local b = probe([[
      BPF_RINGBUF_OUTPUT(events, 2);
      BPF_ARRAY(answers, u64, 4);
    ]], [[
      u64 v = 42;
      events.ringbuf_output(&v, sizeof(v), 0);
      int k = 0; u64 x;
      x = events.ringbuf_query(BPF_RB_RING_SIZE); answers.update(&k, &x); k++;
      x = events.ringbuf_query(BPF_RB_AVAIL_DATA); answers.update(&k, &x); k++;
      x = events.ringbuf_query(BPF_RB_PROD_POS); answers.update(&k, &x); k++;
      x = events.ringbuf_query(BPF_RB_CONS_POS); answers.update(&k, &x);
    ]])
    h.getpriority(1)
    local a = b["answers"]
    assert.are.equal(2 * 4096, a:get(0))
    assert.are.equal(16, a:get(1)) -- one 8-byte record and its 8-byte header
    assert.are.equal(16, a:get(2))
    assert.are.equal(0, a:get(3))
    b:cleanup()
  end)

  it("lay events out as the compiler does: nested, union, array, typedef, anonymous", function()
    local b = probe([[
      typedef unsigned short port_t;
      struct inner { u8 tag; u64 value; };
      struct event {
        u8 kind;
        struct inner nested;
        union { u32 as_u32; u8 bytes[4]; } u;
        port_t ports[3];
        struct { u16 low; u16 high; };
        char name[5];
        s64 last;
      };
      BPF_RINGBUF_OUTPUT(events, 4);
    ]], [[
      struct event e = {};
      e.kind = 7;
      e.nested.tag = 8;
      e.nested.value = 0x1122334455667788ULL;
      e.u.as_u32 = 0x04030201;
      e.ports[0] = 80; e.ports[1] = 443; e.ports[2] = 8080;
      e.low = 1; e.high = 2;
      __builtin_memcpy(e.name, "abcd", 5);
      e.last = -5;
      events.ringbuf_output(&e, sizeof(e), 0);
    ]])
    local events = b["events"]
    local copy
    events:open_ring_buffer(function(_, data, size)
      local e = events:event(data)
      assert.are.equal(ffi.sizeof(events:event_type()), size)
      copy = events:copy(data)
      assert.are.equal(7, e.kind)
    end)
    h.getpriority(1)
    assert.are.equal(1, b:ring_buffer_consume())
    -- The copy outlives the callback.
    assert.are.equal(8, copy.nested.tag)
    assert.are.equal(0x1122334455667788ULL, copy.nested.value)
    assert.are.equal(0x04030201, copy.u.as_u32)
    assert.are.equal(1, copy.u.bytes[0])
    assert.are.same({80, 443, 8080}, {copy.ports[0], copy.ports[1], copy.ports[2]})
    assert.are.same({1, 2}, {copy.low, copy.high})
    assert.are.equal("abcd", ffi.string(copy.name))
    assert.are.equal(-5LL, copy.last)
    assert.are.equal(56, ffi.sizeof(copy)) -- what the BPF compiler says; checked at load too
    b:cleanup()
  end)

  it("let a script cast data to its own ffi.cdef type, as bcc allows with ctypes", function()
    ffi.cdef("struct my_ringbuf_spec_event { uint64_t who; };")
    local b = probe("BPF_RINGBUF_OUTPUT(events, 4);", [[
      u64 who = args->who;
      events.ringbuf_output((void *)&who, sizeof(who), 0);
    ]])
    local who
    b["events"]:open_ring_buffer(function(_, data)
      who = ffi.cast("struct my_ringbuf_spec_event *", data).who
    end)
    h.getpriority(31337)
    b:ring_buffer_consume()
    assert.are.equal(31337ULL, who)
    b:cleanup()
  end)

  it("stop at a negative return and deliver the rest on the next call", function()
    local b = probe("BPF_RINGBUF_OUTPUT(events, 4);", [[
      u64 who = args->who;
      events.ringbuf_output(&who, sizeof(who), 0);
    ]])
    local got = {}
    b["events"]:open_ring_buffer(function(_, data)
      local who = tonumber(ffi.cast("uint64_t *", data)[0])
      got[#got + 1] = who
      if who == 2 then
        return -1
      end
    end)
    for who = 1, 4 do
      h.getpriority(who)
    end
    assert.are.equal(2, b:ring_buffer_consume())
    assert.are.same({1, 2}, got)
    assert.are.equal(2, b:ring_buffer_consume())
    assert.are.same({1, 2, 3, 4}, got)
    b:cleanup()
  end)

  it("raise a callback's error with a traceback, losing and repeating nothing", function()
    local b = probe("BPF_RINGBUF_OUTPUT(events, 4);", [[
      u64 who = args->who;
      events.ringbuf_output(&who, sizeof(who), 0);
    ]])
    local got = {}
    local function failing_callback(_, data)
      local who = tonumber(ffi.cast("uint64_t *", data)[0])
      got[#got + 1] = who
      if who == 2 then
        error("callback failed on " .. who)
      end
    end
    b["events"]:open_ring_buffer(failing_callback)
    for who = 1, 4 do
      h.getpriority(who)
    end
    local ok, err = xpcall(function() return b:ring_buffer_poll(1000) end, debug.traceback)
    assert.is_false(ok)
    assert.matches("callback failed on 2", err, 1, true)
    assert.matches("stack traceback:", err, 1, true)
    assert.matches("spec/ringbuf_spec.lua:%d+: in function", err)
    assert.are.equal(2, b:ring_buffer_consume())
    assert.are.same({1, 2, 3, 4}, got)
    b:cleanup()
  end)

  it("keep the kernel's order across many wraps of a one-page ring", function()
    local b = probe([[
      struct record { u64 seq; u64 pad; };
      BPF_RINGBUF_OUTPUT(events, 1);
    ]], [[
      /* 64 records of 24 bytes with headers per call: 1536 bytes, so no record is ever
         dropped, and the 4096-byte ring wraps every few calls. */
      for (int i = 0; i < 64; i++) {
        struct record r = {};
        r.seq = args->who * 64 + i;
        events.ringbuf_output(&r, sizeof(r), 0);
      }
    ]])
    local expected, bad = 0, nil
    b["events"]:open_ring_buffer(function(_, data)
      local seq = tonumber(ffi.cast("uint64_t *", data)[0])
      if seq ~= expected and not bad then
        bad = string.format("got %d where %d was due", seq, expected)
      end
      expected = seq + 1
    end)
    local calls = 400
    for who = 0, calls - 1 do
      h.getpriority(who)
      b:ring_buffer_consume()
    end
    assert.is_nil(bad)
    assert.are.equal(calls * 64, expected)
    assert.are.equal(0, b["events"]:dropped())
    b:cleanup()
  end)

  it("serve two rings from one poll", function()
    local b = probe([[
      BPF_RINGBUF_OUTPUT(first, 4);
      BPF_RINGBUF_OUTPUT(second, 4);
    ]], [[
      u64 who = args->who;
      if (args->which == 0) first.ringbuf_output(&who, sizeof(who), 0);
      else second.ringbuf_output(&who, sizeof(who), 0);
    ]])
    local got = {}
    b["first"]:open_ring_buffer(function(_, data)
      got[#got + 1] = "first " .. tonumber(ffi.cast("uint64_t *", data)[0])
    end)
    b["second"]:open_ring_buffer(function(_, data)
      got[#got + 1] = "second " .. tonumber(ffi.cast("uint64_t *", data)[0])
    end)
    h.getpriority(5, 1)
    assert.are.equal(1, b:ring_buffer_poll(1000))
    h.getpriority(6, 0)
    h.getpriority(7, 1)
    assert.are.equal(2, b:ring_buffer_poll(1000))
    assert.are.same({"second 5", "first 6", "second 7"}, got)
    assert.are.same({"first", "second"}, b:table_names())
    b:cleanup()
  end)

  it("count every record a full ring could not take", function()
    local b = probe([[
      struct record { u64 a; u64 b; u64 c; };
      BPF_RINGBUF_OUTPUT(events, 1);
    ]], [[
      for (int i = 0; i < 50; i++) {
        struct record r = {};
        if (args->which == 0) {
          events.ringbuf_output(&r, sizeof(r), 0);
        } else {
          struct record *p = events.ringbuf_reserve(sizeof(*p));
          if (p) events.ringbuf_submit(p, 0);
        }
      }
    ]])
    local delivered = 0
    b["events"]:open_ring_buffer(function() delivered = delivered + 1 end)
    for _ = 1, 10 do
      h.getpriority(1, 0) -- ringbuf_output
    end
    for _ = 1, 10 do
      h.getpriority(1, 1) -- ringbuf_reserve
    end
    b:ring_buffer_consume()
    -- A 4096-byte ring holds at most 4095 bytes of records in flight: 127 records of 32
    -- bytes (24 and the header). 1000 were produced.
    assert.are.equal(127, delivered)
    assert.are.equal(1000 - 127, b["events"]:dropped())
    b:cleanup()
  end)

  it("honour BPF_RB_FORCE_WAKEUP and BPF_RB_NO_WAKEUP", function()
    local b = probe("BPF_RINGBUF_OUTPUT(events, 4);", [[
      u64 who = args->who;
      events.ringbuf_output(&who, sizeof(who), args->which == 0 ? BPF_RB_NO_WAKEUP : BPF_RB_FORCE_WAKEUP);
    ]])
    local n = 0
    b["events"]:open_ring_buffer(function() n = n + 1 end)
    ffi.cdef("struct rb_spec_timespec { long s, ns; }; int clock_gettime(int, struct rb_spec_timespec *);")
    local ts = ffi.new("struct rb_spec_timespec")
    local function now()
      ffi.C.clock_gettime(1, ts)
      return tonumber(ts.s) * 1000 + tonumber(ts.ns) / 1e6
    end
    -- Without a wakeup, poll waits out its timeout, then still consumes the record.
    h.getpriority(1, 0)
    local t0 = now()
    assert.are.equal(1, b:ring_buffer_poll(300))
    assert.is_true(now() - t0 >= 250)
    -- A forced wakeup ends the wait at once.
    h.getpriority(2, 1)
    t0 = now()
    assert.are.equal(1, b:ring_buffer_poll(5000))
    assert.is_true(now() - t0 < 1000)
    assert.are.equal(2, n)
    b:cleanup()
  end)

  it("rewrite ring calls inside #define and leave look-alikes in comments and strings", function()
    local b = probe([[
      BPF_RINGBUF_OUTPUT(events, 4);
      #define EMIT(v) events.ringbuf_output(&(v), sizeof(v), 0)
      /* events.ringbuf_frobnicate(0) in a comment is not a call */
    ]], [[
      const char *s = "events.ringbuf_frobnicate(1)"; // nor events.bogus() here
      u64 who = args->who + (s[0] == 'e');
      EMIT(who);
    ]])
    local got
    b["events"]:open_ring_buffer(function(_, data) got = tonumber(ffi.cast("uint64_t *", data)[0]) end)
    h.getpriority(41)
    assert.are.equal(1, b:ring_buffer_consume())
    assert.are.equal(42, got)
    b:cleanup()
  end)

  describe("refuse bad input", function()
    it("a page count that is not a power of two, at its position", function()
      local ok, err = pcall(BPF.new, {text = "\nBPF_RINGBUF_OUTPUT(events, 3);\n"})
      assert.is_false(ok)
      assert.matches("<text>:2:1: error: ", err, 1, true)
      assert.matches("the page count of events must be a power of two", err, 1, true)
    end)

    it("a method a ring buffer does not have, with line and column", function()
      local ok, err = pcall(BPF.new, {text = "BPF_RINGBUF_OUTPUT(events, 4);\nint f(void *ctx) {\n  u64 v = 0;\n  events.perf_submit(ctx, &v, sizeof(v));\n  return 0;\n}\n"})
      assert.is_false(ok)
      assert.matches("<text>:4:10: error: BPF_RINGBUF_OUTPUT 'events' has no method 'perf_submit' (it has ringbuf_output, ringbuf_reserve, ringbuf_submit, ringbuf_discard, ringbuf_query)", err, 1, true)
    end)

    it("a callback that is not a function, and polling with no ring open", function()
      local b = BPF{text = "BPF_RINGBUF_OUTPUT(events, 4);"}
      assert.has_error(function() b["events"]:open_ring_buffer("nope") end,
        "open_ring_buffer: expected a function(ctx, data, size)")
      assert.has_error(function() b:ring_buffer_poll(0) end)
      assert.has_error(function() b:ring_buffer_consume() end)
      b:cleanup()
    end)

    it("event() on a ring whose event type the source does not show", function()
      local b = BPF{text = "BPF_RINGBUF_OUTPUT(events, 4);"}
      local ok, err = pcall(function() return b["events"]:event(nil) end)
      assert.is_false(ok)
      assert.matches("no event type is known", err, 1, true)
      b:cleanup()
    end)
  end)
end)
