-- What used to crash, hang or leak around a BPF object's life: bad arguments that reached C,
-- cleanup() from inside a callback, nested polls, every method after cleanup(), objects left
-- to the garbage collector, the trace pipe's one reader. Events come from this process's
-- own getpriority() calls, filtered on its pid.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

local probe = h.probe

-- A BPF object whose ring buffer and perf buffer both get args->who of each getpriority().
local function emitter()
  return probe([[
    struct event { u64 who; };
    BPF_RINGBUF_OUTPUT(ring, 8);
    BPF_PERF_OUTPUT(perf);
    BPF_HASH(counts, u32, u64, 4);
    BPF_STACK_TRACE(stacks, 16);
  ]], [[
    struct event e = {args->who};
    ring.ringbuf_output(&e, sizeof(e), 0);
    perf.perf_submit(args, &e, sizeof(e));
  ]])
end

-- The message of the error f raises (it must raise one).
local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "no error")
  return tostring(err)
end

describe("robustness:", function()
  setup(function()
    assert(h.require_bpf())
  end)

  describe("arguments that reached C", function()
    it("b:get_table(nil) and other non-names are errors", function()
      local b = emitter()
      assert.matches("get_table: expected a table name %(a string%), not nil", error_of(b.get_table, b, nil))
      assert.matches("not a number", error_of(b.get_table, b, 5))
      b:cleanup()
    end)

    it("BPF.ksymname(nil), BPF.ksym(nil) and BPF.sym with a bad pid are errors", function()
      assert.matches("ksymname: expected a kernel symbol's name, not nil", error_of(BPF.ksymname, nil))
      assert.matches("ksym: expected an address", error_of(BPF.ksym, nil))
      assert.matches("ksym: not an address: nan", error_of(BPF.ksym, 0 / 0))
      assert.matches("sym: pid must be a number", error_of(BPF.sym, 0, "self"))
    end)

    it("ring:copy(nil), perf:copy(nil) and event(nil) are errors", function()
      local b = emitter()
      local ring, perf = b["ring"], b["perf"]
      assert.matches("ring buffer 'ring': copy%(data%) takes the data pointer a callback receives, not a NULL pointer",
        error_of(ring.copy, ring, nil))
      assert.matches("not a NULL pointer", error_of(ring.copy, ring, ffi.cast("void *", 0)))
      assert.matches("not a number", error_of(ring.copy, ring, 4096))
      assert.matches("perf buffer 'perf': event%(data%)", error_of(perf.event, perf, nil))
      b:cleanup()
    end)
  end)

  describe("cleanup() from inside a callback", function()
    it("stops a ring buffer walk after that callback and tears everything down", function()
      local before = h.kernel_objects()
      local b = emitter()
      local seen = {}
      b["ring"]:open_ring_buffer(function(_, data)
        seen[#seen + 1] = tonumber(b["ring"]:event(data).who)
        b:cleanup()
      end)
      for i = 1, 5 do
        h.getpriority(100 + i)
      end
      assert.are.equal(1, b:ring_buffer_consume())
      assert.are.same({101}, seen)
      assert.matches("BPF object was cleaned up", error_of(b.ring_buffer_consume, b))
      h.assert_kernel_objects(before)
    end)

    it("stops a perf buffer walk after that callback and tears everything down", function()
      local before = h.kernel_objects()
      local b = emitter()
      local seen = {}
      b["perf"]:open_perf_buffer(function(_, data)
        seen[#seen + 1] = tonumber(b["perf"]:event(data).who)
        b:cleanup()
      end)
      for i = 1, 5 do
        h.getpriority(200 + i)
      end
      assert.are.equal(1, b:perf_buffer_poll(1000))
      assert.are.same({201}, seen)
      assert.matches("BPF object was cleaned up", error_of(b.perf_buffer_poll, b, 0))
      h.assert_kernel_objects(before)
    end)
  end)

  describe("polling from inside a callback", function()
    it("is an error for ring buffers, and each record still comes once", function()
      local b = emitter()
      local seen, nested = {}, nil
      b["ring"]:open_ring_buffer(function(_, data)
        seen[#seen + 1] = tonumber(b["ring"]:event(data).who)
        local ok, err = pcall(b.ring_buffer_poll, b, 0)
        nested = nested or (not ok and err)
      end)
      for i = 1, 5 do
        h.getpriority(300 + i)
      end
      assert.are.equal(5, b:ring_buffer_consume())
      assert.are.same({301, 302, 303, 304, 305}, seen)
      assert.matches("ring_buffer_poll/consume called from inside a ring buffer callback", nested)
      -- A callback that raised does not leave the ring refusing later polls.
      b["ring"]:open_ring_buffer(function() error("callback failed") end)
      h.getpriority(306)
      assert.matches("callback failed", error_of(b.ring_buffer_consume, b))
      b["ring"]:open_ring_buffer(function(_, data) seen[#seen + 1] = tonumber(b["ring"]:event(data).who) end)
      h.getpriority(307)
      assert.are.equal(1, b:ring_buffer_consume())
      assert.are.equal(307, seen[#seen])
      b:cleanup()
    end)

    it("is an error for perf buffers, and each sample still comes once", function()
      local b = emitter()
      local seen, nested = {}, nil
      b["perf"]:open_perf_buffer(function(_, data)
        seen[#seen + 1] = tonumber(b["perf"]:event(data).who)
        local ok, err = pcall(b.perf_buffer_consume, b)
        nested = nested or (not ok and err)
      end)
      for i = 1, 5 do
        h.getpriority(400 + i)
      end
      assert.are.equal(5, b:perf_buffer_poll(1000))
      assert.are.same({401, 402, 403, 404, 405}, seen)
      assert.matches("perf_buffer_poll/consume called from inside a perf buffer callback", nested)
      b:cleanup()
    end)
  end)

  describe("after cleanup()", function()
    it("every method of the object and its tables is harmless or says it was cleaned up", function()
      local b = emitter()
      local ring, perf, counts, stacks = b["ring"], b["perf"], b["counts"], b["stacks"]
      ring:open_ring_buffer(function() end)
      b:cleanup()
      b:cleanup()
      local cleaned = "cleaned up"
      assert.matches(cleaned, error_of(b.table_names, b))
      assert.matches(cleaned, error_of(b.get_table, b, "ring"))
      assert.matches(cleaned, error_of(function() return b.counts end))
      assert.matches(cleaned, error_of(b.ring_buffer_poll, b, 0))
      assert.matches(cleaned, error_of(b.ring_buffer_consume, b))
      assert.matches(cleaned, error_of(b.perf_buffer_poll, b, 0))
      assert.matches(cleaned, error_of(b.perf_buffer_consume, b))
      assert.matches(cleaned, error_of(b.ring_buffer_fd, b))
      assert.matches(cleaned, error_of(b.perf_buffer_fd, b))
      assert.matches(cleaned, error_of(b.attach_tracepoint, b, {tp = "syscalls:sys_enter_getppid", fn_name = "f"}))
      assert.matches(cleaned, error_of(b.detach_tracepoint, b, {tp = "syscalls:sys_enter_getppid"}))
      assert.matches(cleaned, error_of(b.trace_readline, b, true))
      assert.are.equal(0, b:num_attached())
      assert.are.equal(0, b:num_open_tracepoints())
      assert.are.equal("<BPF object (cleaned up)>", tostring(b))
      for _, method in ipairs({"get", "delete", "sum", "max", "average"}) do
        assert.matches(cleaned, error_of(counts[method], counts, 1))
      end
      assert.matches(cleaned, error_of(counts.set, counts, 1, 2))
      for _, method in ipairs({"items", "keys", "values", "len", "clear", "zero", "buckets",
                               "print_log2_hist", "print_linear_hist", "items_lookup_and_delete_batch"}) do
        assert.matches(cleaned, error_of(counts[method], counts))
      end
      assert.matches(cleaned, error_of(stacks.walk, stacks, 1))
      assert.matches(cleaned, error_of(ring.dropped, ring))
      assert.matches(cleaned, error_of(ring.open_ring_buffer, ring, function() end))
      assert.matches(cleaned, error_of(perf.open_perf_buffer, perf, function() end))
      assert.are.equal(0, perf:lost())
      assert.is_string(tostring(counts) .. tostring(ring) .. tostring(perf))
    end)
  end)

  describe("the garbage collector", function()
    it("keeps up with objects dropped without cleanup(): 300 on one tracepoint all attach", function()
      -- A tracepoint takes a bounded number of programs (the kernel says E2BIG beyond); the
      -- collector cannot see that a small cdata holds one, so bpflua collects for it.
      local before = h.kernel_objects()
      local src = "BPF_ARRAY(c, u64, 1);\nTRACEPOINT_PROBE(syscalls, sys_enter_getppid) { c.increment(0); return 0; }\n"
      for _ = 1, 300 do
        local b = BPF{text = src}
        assert.are.equal(1, b:num_attached())
      end
      h.assert_kernel_objects(before)
    end)

    it("releases the trace pipe when the object that read it is collected", function()
      local function pipe_fds()
        local n = 0
        local ls = io.popen("ls -l /proc/" .. h.getpid() .. "/fd")
        for line in ls:lines() do
          if line:find("trace_pipe", 1, true) then
            n = n + 1
          end
        end
        ls:close()
        return n
      end
      local b = BPF{text = "int unused(void *ctx) { return 0; }"}
      h.with_trace_pipe(function()
        return b:trace_readline(true)
      end)
      assert.are.equal(1, pipe_fds())
      b = nil -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.are.equal(0, pipe_fds())
    end)
  end)
end)
