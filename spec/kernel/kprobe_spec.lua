-- kprobes and kretprobes, end to end. The development kernel has none (attach_spec.lua checks
-- the error there), so scripts/test.sh runs this file in Debian's 6.1 kernel under QEMU
-- (scripts/vmtest.sh); it is tagged #vm so that the native run leaves it out.
--
-- Every probe sits on the kernel function behind getpriority(2) and counts only this process:
-- getpriority(PRIO_PROCESS, N) with N above any possible pid carries N into the kernel and
-- comes back with -ESRCH, so the entry probe can check the argument and the return probe the
-- return value.
local BPF = require("bpflua")
local h = require("spec.helpers")

local pid = h.getpid()
local fn = BPF.get_syscall_fnname("getpriority") -- __x64_sys_getpriority on x86-64
local ESRCH = 3
local WHO = 5000000 -- above PID_MAX_LIMIT (4194304): no such process, ever

-- The syscall wrapper's one argument is the user's registers; `who` is the second syscall
-- argument in them.
local PROBES = [[
  BPF_ARRAY(hits, u64, 4);
  BPF_ARRAY(seen, s64, 4);
  static int mine(void) { return (bpf_get_current_pid_tgid() >> 32) == PID; }
  static s64 who(struct pt_regs *ctx) {
    struct pt_regs *user_regs = (struct pt_regs *)PT_REGS_PARM1(ctx);
    return (int)PT_REGS_PARM2_CORE(user_regs);
  }
  static s64 retval(struct pt_regs *ctx) { return PT_REGS_RC(ctx); }
  static void note(u32 slot, s64 value) {
    hits.atomic_increment(slot);
    seen.update(&slot, &value);
  }
]]

-- This process's descriptors once what it dropped is collected.
local function open_fds()
  h.collect_all()
  return h.open_fds()
end

local function kprobes_or_pending()
  local ok, why = h.require_kprobes()
  if not ok then
    pending(why)
  end
  return ok
end

describe("kprobes #kernel #vm", function()
  it("attach by attach_kprobe and attach_kretprobe, see argument and return value, stop on detach", function()
    if not kprobes_or_pending() then return end
    local b = BPF{text = PROBES .. [[
      int on_entry(struct pt_regs *ctx) { if (mine()) note(0, who(ctx)); return 0; }
      int on_return(struct pt_regs *ctx) { if (mine()) note(1, retval(ctx)); return 0; }
    ]], cflags = {"-DPID=" .. pid}}
    b:attach_kprobe{event = fn, fn_name = "on_entry"}
    b:attach_kretprobe{event = fn, fn_name = "on_return"}
    assert.are.equal(2, b:num_open_kprobes())
    for i = 1, 5 do
      assert.are.equal(-1, h.getpriority(WHO + i))
    end
    assert.are.equal(5, b["hits"]:get(0))
    assert.are.equal(WHO + 5, b["seen"]:get(0))
    assert.are.equal(5, b["hits"]:get(1))
    assert.are.equal(-ESRCH, b["seen"]:get(1))

    b:detach_kprobe{event = fn}
    assert.are.equal(1, b:num_open_kprobes())
    h.getpriority(WHO)
    assert.are.equal(5, b["hits"]:get(0))
    assert.are.equal(6, b["hits"]:get(1))
    b:detach_kretprobe{event = fn}
    assert.are.equal(0, b:num_open_kprobes())
    h.getpriority(WHO)
    assert.are.equal(6, b["hits"]:get(1))
    b:cleanup()
  end)

  -- bcc's naming convention, attached as the object loads (runtime/object.c). bcc also counts
  -- these in num_open_kprobes(); bpflua counts them in num_attached() only.
  it("attach kprobe__ and kretprobe__ functions at load", function()
    if not kprobes_or_pending() then return end
    local fds = open_fds()
    local b = BPF{text = PROBES .. string.format([[
      int kprobe__%s(struct pt_regs *ctx) { if (mine()) note(0, who(ctx)); return 0; }
      int kretprobe__%s(struct pt_regs *ctx) { if (mine()) note(1, retval(ctx)); return 0; }
    ]], fn, fn), cflags = {"-DPID=" .. pid}}
    assert.are.equal(2, b:num_attached())
    for i = 1, 3 do
      h.getpriority(WHO + i)
    end
    assert.are.equal(3, b["hits"]:get(0))
    assert.are.equal(WHO + 3, b["seen"]:get(0))
    assert.are.equal(3, b["hits"]:get(1))
    assert.are.equal(-ESRCH, b["seen"]:get(1))
    b:cleanup()
    assert.are.equal(fds, open_fds())
  end)

  it("send kprobe events to Lua through a ring buffer and a perf buffer, in order", function()
    if not kprobes_or_pending() then return end
    local b = BPF{text = PROBES .. [[
      struct event { u32 pid; s64 who; };
      BPF_RINGBUF_OUTPUT(ring, 8);
      BPF_PERF_OUTPUT(perf);
      int to_ring(struct pt_regs *ctx) {
        if (!mine()) return 0;
        struct event e = {.pid = PID, .who = who(ctx)};
        ring.ringbuf_output(&e, sizeof(e), 0);
        return 0;
      }
      int to_perf(struct pt_regs *ctx) {
        if (!mine()) return 0;
        struct event e = {.pid = PID, .who = who(ctx)};
        perf.perf_submit(ctx, &e, sizeof(e));
        return 0;
      }
    ]], cflags = {"-DPID=" .. pid}}
    local from_ring, from_perf = {}, {}
    local ring, perf = b["ring"], b["perf"]
    ring:open_ring_buffer(function(_, data)
      local e = ring:event(data)
      assert.are.equal(pid, e.pid)
      from_ring[#from_ring + 1] = tonumber(e.who)
    end)
    perf:open_perf_buffer(function(_, data)
      local e = perf:event(data)
      assert.are.equal(pid, e.pid)
      from_perf[#from_perf + 1] = tonumber(e.who)
    end)
    b:attach_kprobe{event = fn, fn_name = "to_ring"}
    b:attach_kprobe{event = fn, fn_name = "to_perf"}
    local expected = {}
    for i = 1, 100 do
      h.getpriority(WHO + i)
      expected[i] = WHO + i
    end
    -- Poll until both have everything (the events are there already; the loop bounds a miss).
    for _ = 1, 50 do
      if #from_ring == 100 and #from_perf == 100 then break end
      b:ring_buffer_poll(100)
      b:perf_buffer_poll(100)
    end
    assert.are.same(expected, from_ring)
    assert.are.same(expected, from_perf)
    assert.are.equal(0, ring:dropped())
    assert.are.equal(0, perf:lost())
    b:cleanup()
  end)

  it("name a kernel function that does not exist, and leave nothing behind", function()
    if not kprobes_or_pending() then return end
    local b = BPF{text = PROBES .. [[
      int on_entry(struct pt_regs *ctx) { if (mine()) note(0, who(ctx)); return 0; }
    ]], cflags = {"-DPID=" .. pid}}
    local fds = open_fds()
    for _, attach in ipairs{b.attach_kprobe, b.attach_kretprobe} do
      local ok, err = pcall(attach, b, {event = "bpflua_no_such_function", fn_name = "on_entry"})
      assert.is_false(ok)
      assert.matches("cannot attach 'on_entry' to k%a*probe bpflua_no_such_function: ", err)
    end
    assert.are.equal(0, b:num_open_kprobes())
    assert.are.equal(fds, open_fds())
    -- A bad kprobe__ name fails the load and leaves nothing loaded or attached either.
    local ok, err = pcall(BPF.new, {text = "int kprobe__bpflua_no_such_function(void *ctx) { return 0; }"})
    assert.is_false(ok)
    assert.matches("bpflua_no_such_function", err, 1, true)
    assert.are.equal(fds, open_fds())
    b:cleanup()
  end)

  it("hold no more file descriptors after 1000 kprobe attach/detach cycles", function()
    if not kprobes_or_pending() then return end
    local b = BPF{text = PROBES .. [[
      int on_entry(struct pt_regs *ctx) { if (mine()) note(0, who(ctx)); return 0; }
      int on_return(struct pt_regs *ctx) { if (mine()) note(1, retval(ctx)); return 0; }
    ]], cflags = {"-DPID=" .. pid}}
    -- One cycle first, so that whatever is opened once per object is open before counting.
    b:attach_kprobe{event = fn, fn_name = "on_entry"}
    b:detach_kprobe{event = fn}
    local fds = open_fds()
    for i = 1, 1000 do
      local kretprobe = i % 2 == 0
      if kretprobe then
        b:attach_kretprobe{event = fn, fn_name = "on_return"}
      else
        b:attach_kprobe{event = fn, fn_name = "on_entry"}
      end
      h.getpriority(WHO + i)
      if kretprobe then
        b:detach_kretprobe{event = fn}
      else
        b:detach_kprobe{event = fn}
      end
    end
    assert.are.equal(fds, open_fds())
    -- Every attachment counted its one call, and none outlived its detach.
    assert.are.equal(500, b["hits"]:get(0))
    assert.are.equal(500, b["hits"]:get(1))
    assert.are.equal(0, b:num_open_kprobes())
    b:cleanup()
  end)
end)
