-- Attaching by regular expression (bcc's tp_re, sym_re, event_re), the lists behind them, and
-- options a call does not know.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[
int getppid(void);
int getpid(void);
]]

local pid = h.getpid()

local function counters()
  return BPF{text = [[
    BPF_ARRAY(hits, u64, 4);
    static int mine(void) { return (bpf_get_current_pid_tgid() >> 32) == PID; }
    int count0(void *ctx) { if (mine()) hits.atomic_increment(0); return 0; }
    int count1(void *ctx) { if (mine()) hits.atomic_increment(1); return 0; }
  ]], cflags = {"-DPID=" .. pid}}
end

describe("lists by regular expression", function()
  it("get_tracepoints: the matching category:event names, sorted", function()
    assert.are.same({"syscalls:sys_enter_getppid", "syscalls:sys_enter_getpriority"},
      BPF.get_tracepoints("^syscalls:sys_enter_getp(pid|riority)$"))
    assert.are.same({}, BPF.get_tracepoints("^no_such_category:"))
  end)

  it("get_kprobe_functions: kernel functions, without .cold parts and perf's own", function()
    assert.are.same({"vfs_read"}, BPF.get_kprobe_functions("^vfs_read$"))
    local all = BPF.get_kprobe_functions("^vfs_")
    assert.is_true(#all > 5)
    for _, name in ipairs(all) do
      assert.is_nil(name:find("%.cold"))
    end
    assert.are.same({}, BPF.get_kprobe_functions("^perf_event_open$|\\.cold"))
  end)

  it("get_user_functions: a binary's functions, one name per address", function()
    -- glibc's getpid is also __getpid, at the same address: listed once, by its plain name.
    assert.are.same({"getpid"}, BPF.get_user_functions("c", "^_*getpid$"))
    local names = BPF.get_user_functions("c", "^str(n?cpy|len)$")
    table.sort(names)
    assert.are.same({"strcpy", "strlen", "strncpy"}, names)
  end)

  it("says what is wrong with a bad expression", function()
    assert.has_error(function() BPF.get_tracepoints("(") end,
      "get_tracepoints: bad regular expression '(': Unmatched ( or \\(")
    assert.has_error(function() BPF.get_user_functions("c", 5) end,
      "get_user_functions: expected a regular expression string")
  end)
end)

describe("attach by regular expression", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("tp_re attaches to every matching tracepoint, and detaches by the same expression", function()
    local b = counters()
    local re = "^syscalls:sys_enter_getp(pid|riority)$"
    b:attach_tracepoint{tp_re = re, fn_name = "count0"}
    assert.are.equal(2, b:num_open_tracepoints())
    h.getpriority(1)
    ffi.C.getppid()
    ffi.C.getppid()
    assert.are.equal(3, b.hits:get(0))
    b:detach_tracepoint{tp_re = re}
    assert.are.equal(0, b:num_open_tracepoints())
    h.getpriority(1)
    assert.are.equal(3, b.hits:get(0))
    assert.has_error(function() b:detach_tracepoint{tp_re = re} end,
      "detach_tracepoint: nothing is attached to " .. re)
    b:cleanup()
  end)

  it("sym_re puts one uprobe on each matching function, aliases once", function()
    -- The path, not "c": finding a library runs ldconfig through popen(), and glibc's popen
    -- calls getpid() itself.
    local libc = BPF.find_library("c")
    local b = counters()
    -- getpid's probe last: libbpf calls getpid() while it attaches a uprobe.
    b:attach_uretprobe{name = libc, sym_re = "^getppid$", fn_name = "count1", pid = pid}
    b:attach_uprobe{name = libc, sym_re = "^_*getpid$", fn_name = "count0", pid = pid}
    assert.are.equal(2, b:num_open_uprobes())
    for _ = 1, 4 do ffi.C.getpid() end
    for _ = 1, 3 do ffi.C.getppid() end
    assert.are.equal(4, b.hits:get(0))
    assert.are.equal(3, b.hits:get(1))
    b:detach_uprobe{name = libc, sym_re = "^_*getpid$", pid = pid}
    local after_detach = b.hits:get(0) -- (detaching, too, calls getpid() once more)
    ffi.C.getpid()
    assert.are.equal(after_detach, b.hits:get(0))
    b:detach_uretprobe{name = libc, sym_re = "^getppid$", pid = pid}
    assert.are.equal(0, b:num_open_uprobes())
    b:cleanup()
  end)

  it("fails clearly when nothing matches or an attach fails, leaving nothing attached", function()
    local b = counters()
    assert.has_error(function() b:attach_tracepoint{tp_re = "^nothing:here$", fn_name = "count0"} end,
      "attach_tracepoint: no tracepoint matches '^nothing:here$'")
    assert.has_error(function() b:attach_uprobe{name = "c", sym_re = "^no_such_fn_x$", fn_name = "count0"} end,
      "attach_uprobe: no function of " .. BPF.find_library("c") .. " matches '^no_such_fn_x$'")
    assert.has_error(function()
      b:attach_tracepoint{tp_re = "^syscalls:sys_enter_getp(pid|riority)$", fn_name = "no_such_fn"}
    end, "no function named 'no_such_fn' to attach (the program's non-static functions: count0, count1)")
    assert.are.equal(0, b:num_open_tracepoints())
    b:cleanup()
  end)

  it("event_re lists kernel functions and says when the kernel has no kprobes", function()
    local b = counters()
    local f = io.open("/sys/bus/event_source/devices/kprobe/type")
    if not f then -- this development kernel; spec/kernel/ attaches for real in the VM
      assert.has_error(function() b:attach_kprobe{event_re = "^vfs_read$", fn_name = "count0"} end,
        "cannot attach 'count0' to kprobe vfs_read: this kernel has no kprobes (it was built without CONFIG_KPROBES)")
    else
      f:close()
    end
    b:cleanup()
  end)
end)

describe("options a call does not know", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("are errors that name the option and list the known ones", function()
    local b = counters()
    assert.has_error(function()
      b:attach_tracepoint{tp = "syscalls:sys_enter_getppid", fn_name = "count0", pid = 1}
    end, "attach_tracepoint: unknown option 'pid' (options: tp, tp_re, fn_name, fn)")
    assert.has_error(function() b:attach_uprobe{name = "c", sym = "getpid", fn_name = "count0", cpu = 0} end,
      "attach_uprobe: unknown option 'cpu' (options: name, sym, sym_re, addr, sym_off, fn_name, fn, pid)")
    assert.has_error(function() b:attach_kprobe{event = "vfs_read", fn_name = "count0", event_off = 4} end,
      "attach_kprobe: unknown option 'event_off' (options: event, event_re, fn_name, fn)")
    assert.has_error(function() b:attach_tracepoint{tp = "a:b", tp_re = "a", fn_name = "count0"} end,
      "attach_tracepoint: give 'tp' or 'tp_re', not both")
    assert.has_error(function() b:attach_tracepoint{fn_name = "count0"} end,
      "attach_tracepoint: missing argument 'tp' (or 'tp_re')")
    assert.are.equal(0, b:num_open_tracepoints())
    b:cleanup()
  end)
end)
