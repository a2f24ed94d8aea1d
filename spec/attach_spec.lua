-- bcc's program model and attach calls: every non-static function can be attached by name,
-- and each attach point counts real hits made by this process.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[
void *malloc(size_t size);
void free(void *p);
]]

local pid = h.getpid()

-- Functions that count into hits[slot] for this process only.
local function counters(extra)
  return BPF{text = [[
    BPF_ARRAY(hits, u64, 8);
    static int mine(void) { return (bpf_get_current_pid_tgid() >> 32) == PID; }
    int count0(void *ctx) { if (mine()) hits.atomic_increment(0); return 0; }
    int count1(void *ctx) { if (mine()) hits.atomic_increment(1); return 0; }
    int count2(void *ctx) { if (mine()) hits.atomic_increment(2); return 0; }
    int count3(void *ctx) { if (mine()) hits.atomic_increment(3); return 0; }
  ]] .. (extra or ""), cflags = {"-DPID=" .. pid, "-DNR=" .. (ffi.arch == "x64" and 140 or 141)}}
end

-- Listed through os.execute, not io.popen, whose pipe races with the listing (helpers.lua).
local open_fds = h.open_fds

describe("attach calls #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("attach a function to a tracepoint by name, and stop the hits on detach", function()
    local b = counters()
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "count0"}
    -- The same function, attached a second time elsewhere.
    b:attach_tracepoint{tp = "syscalls:sys_enter_getppid", fn_name = "count0"}
    assert.are.equal(2, b:num_open_tracepoints())
    for _ = 1, 3 do h.getpriority(1) end
    ffi.cdef("int getppid(void);")
    ffi.C.getppid()
    assert.are.equal(4, b["hits"]:get(0))
    b:detach_tracepoint{tp = "syscalls:sys_enter_getpriority"}
    h.getpriority(1)
    assert.are.equal(4, b["hits"]:get(0))
    assert.are.equal(1, b:num_open_tracepoints())
    b:cleanup()
  end)

  it("attach raw tracepoints, by name and by RAW_TRACEPOINT_PROBE at load", function()
    local b = counters([[
      RAW_TRACEPOINT_PROBE(sys_exit) {
        if (mine() && ctx->args[1] == -7777) hits.atomic_increment(5);
        return 0;
      }
      int on_sys_enter(struct bpf_raw_tracepoint_args *ctx) {
        /* args[0] is the pt_regs, args[1] the syscall number */
        if (mine() && ctx->args[1] == NR) hits.atomic_increment(4);
        return 0;
      }
    ]])
    assert.are.equal(1, b:num_attached())
    b:attach_raw_tracepoint{tp = "sys_enter", fn_name = "on_sys_enter"}
    for _ = 1, 6 do h.getpriority(1) end
    assert.are.equal(6, b["hits"]:get(4))
    b:detach_raw_tracepoint{tp = "sys_enter"}
    h.getpriority(1)
    assert.are.equal(6, b["hits"]:get(4))
    b:cleanup()
  end)

  it("attach uprobes and uretprobes on libc by its short name", function()
    local b = counters()
    b:attach_uprobe{name = "c", sym = "getpriority", fn_name = "count0", pid = pid}
    b:attach_uretprobe{name = "c", sym = "getpriority", fn_name = "count1", pid = pid}
    b:attach_uprobe{name = "c", sym = "malloc", fn_name = "count2", pid = pid}
    assert.are.equal(3, b:num_open_uprobes())
    for _ = 1, 4 do h.getpriority(1) end
    assert.are.equal(4, b["hits"]:get(0))
    assert.are.equal(4, b["hits"]:get(1))
    b:detach_uprobe{name = "c", sym = "getpriority", pid = pid}
    h.getpriority(1)
    assert.are.equal(4, b["hits"]:get(0))
    assert.are.equal(5, b["hits"]:get(1))
    ffi.C.free(ffi.C.malloc(64))
    assert.is_true(b["hits"]:get(2) >= 1)
    assert.matches("/libc%.so%.6$", BPF.find_library("c"))
    -- A library the loader's cache has only unversioned (glibc's libmemusage.so, as nspr4's).
    assert.matches("/libmemusage%.so$", BPF.find_library("memusage"))
    b:cleanup()
  end)

  it("attach perf events on every CPU and count samples", function()
    local b = counters()
    b:attach_perf_event{ev_type = BPF.PerfType.SOFTWARE, ev_config = BPF.PerfSWConfig.CPU_CLOCK,
                        fn_name = "count3", sample_freq = 1000}
    -- Spin for 0.3 s of CPU time so that the clock samples this process.
    local stop = os.clock() + 0.3
    while os.clock() < stop do end
    assert.is_true(b["hits"]:get(3) > 10, "samples: " .. tostring(b["hits"]:get(3)))
    b:detach_perf_event{ev_type = BPF.PerfType.SOFTWARE, ev_config = BPF.PerfSWConfig.CPU_CLOCK}
    b:cleanup()
  end)

  it("read bpf_trace_printk output with trace_fields", function()
    local b = BPF{text = [[
      int say(void *ctx) {
        if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
        bpf_trace_printk("bpflua spec says %d\n", 4242);
        return 0;
      }
    ]], cflags = {"-DPID=" .. pid}}
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "say"}
    -- The pipe has one reader system-wide: wait while another process holds it. Then drain
    -- what others left in it, make our line and read until it comes (lines of other
    -- programs may come first).
    h.with_trace_pipe(function()
      while b:trace_readline(true) do end
    end)
    h.getpriority(1)
    local task, tpid, cpu, flags, ts, msg
    repeat
      task, tpid, cpu, flags, ts, msg = b:trace_fields()
    until msg == "bpflua spec says 4242" and tpid == pid
    assert.are.equal("bpflua spec says 4242", msg)
    assert.are.equal(pid, tpid)
    -- The trace names the task from its cache of recent commands: "<...>" when it has none,
    -- and on a busy machine the name of an earlier process with the same pid.
    assert.is_true(type(task) == "string" and #task > 0, tostring(task))
    assert.is_number(cpu)
    assert.is_string(flags)
    assert.is_true(ts > 0)
    b:cleanup()
    -- The kernel allows one reader of the pipe: cleanup lets another process have it (this
    -- process holds no descriptor of it any more).
    local out = h.run("ls -l /proc/" .. pid .. "/fd")
    assert.is_nil(out:find("trace_pipe", 1, true), out)
  end)

  -- #native: the VM's kernel has kprobes; spec/kernel/kprobe_spec.lua attaches them there.
  it("says exactly why kprobes cannot attach on a kernel without them #native", function()
    -- This kernel is built without CONFIG_KPROBES: the specs can check only the error.
    local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil
    if has_kprobes then
      pending("this kernel has kprobes; the error for a kernel without them cannot be shown")
      return
    end
    local b = counters()
    local ok, err = pcall(b.attach_kprobe, b, {event = "vfs_read", fn_name = "count0"})
    assert.is_false(ok)
    assert.matches("cannot attach 'count0' to kprobe vfs_read: this kernel has no kprobes", err, 1, true)
    err = select(2, pcall(b.attach_kretprobe, b, {event = "vfs_read", fn_name = "count0"}))
    assert.matches("to kretprobe vfs_read: this kernel has no kprobes", err, 1, true)
    b:cleanup()
    -- bcc's kprobe__ naming attaches at load, and fails there the same way.
    local before = h.kernel_objects()
    ok, err = pcall(BPF.new, {text = "int kprobe__vfs_read(struct pt_regs *ctx) { return 0; }"})
    assert.is_false(ok)
    assert.matches("cannot attach kprobe__vfs_read to vfs_read: this kernel has no kprobes", err, 1, true)
    h.assert_kernel_objects(before)
  end)

  it("name what does not exist", function()
    local b = counters()
    local function fails(f, args, expected)
      local ok, err = pcall(f, b, args)
      assert.is_false(ok)
      assert.matches(expected, err, 1, true)
    end
    fails(b.attach_tracepoint, {tp = "syscalls:sys_enter_getpriority", fn_name = "nope"},
      "no function named 'nope' to attach (the program's non-static functions: count0, count1, count2, count3)")
    fails(b.attach_tracepoint, {tp = "syscalls:sys_enter_nonesuch", fn_name = "count0"},
      "tracepoint syscalls:sys_enter_nonesuch does not exist")
    fails(b.attach_raw_tracepoint, {tp = "no_such_raw_tp", fn_name = "count0"},
      "raw tracepoint no_such_raw_tp does not exist")
    fails(b.attach_uprobe, {name = "c", sym = "no_such_function_xyz", fn_name = "count0"},
      "no symbol 'no_such_function_xyz' in ")
    fails(b.attach_uprobe, {name = "no_such_library_xyz", sym = "f", fn_name = "count0"},
      "cannot find library 'no_such_library_xyz'")
    fails(b.detach_tracepoint, {tp = "syscalls:sys_enter_getpriority"}, "nothing is attached to")
    assert.are.equal(0, b:num_open_tracepoints())
    b:cleanup()
  end)

  it("answer bcc's introspection calls", function()
    assert.is_true(BPF.tracepoint_exists("syscalls", "sys_enter_openat"))
    assert.is_false(BPF.tracepoint_exists("syscalls", "sys_enter_nonesuch"))
    assert.matches("sys_openat$", BPF.get_syscall_fnname("openat"))
  end)

  -- #native: in the VM this takes ~170 s (TCG); spec/kernel/kprobe_spec.lua does the VM's
  -- 1000-cycle leak check on kprobes.
  it("hold no more file descriptors after 1000 create/attach/cleanup cycles #native", function()
    local src = "BPF_ARRAY(c, u64, 1);\nint f(void *ctx) { c.increment(0); return 0; }\n"
    BPF{text = src}:cleanup() -- the object cache is warm from here on
    h.collect_all()
    local before = open_fds()
    for _ = 1, 1000 do
      local b = BPF{text = src}
      b:attach_raw_tracepoint{tp = "sys_enter", fn_name = "f"}
      b:cleanup()
    end
    collectgarbage()
    assert.are.equal(before, open_fds())
  end)
end)
