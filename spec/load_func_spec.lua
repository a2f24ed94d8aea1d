-- bcc's load_func and program arrays: functions loaded by type without attaching, attached
-- with fn = f, and chained by tail calls.
local BPF = require("bpflua")
local h = require("spec.helpers")

local pid = h.getpid()

-- The program type the kernel reports for one of this process's fds.
local function fd_prog_type(fd)
  local f = assert(io.open("/proc/self/fdinfo/" .. fd))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("prog_type:%s*(%d+)"))
end

describe("load_func", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("loads a function as each program type without attaching it", function()
    local b = BPF{text = [[
      int as_kprobe(struct pt_regs *ctx) { return 0; }
      int as_tracepoint(void *ctx) { return 0; }
      int as_raw_tracepoint(struct bpf_raw_tracepoint_args *ctx) { return 0; }
      int as_perf_event(struct bpf_perf_event_data *ctx) { return 0; }
      int as_socket_filter(struct __sk_buff *skb) { return skb->len; }
      int as_xdp(struct xdp_md *ctx) { return XDP_PASS; }
      int as_sched_cls(struct __sk_buff *skb) { return 0; }
      int as_cgroup_skb(struct __sk_buff *skb) { return 1; }
      int as_cgroup_sockopt(struct bpf_sockopt *ctx) { return 1; }
    ]]}
    for name, type in pairs{as_kprobe = BPF.KPROBE, as_tracepoint = BPF.TRACEPOINT,
        as_raw_tracepoint = BPF.RAW_TRACEPOINT, as_perf_event = BPF.PERF_EVENT,
        as_socket_filter = BPF.SOCKET_FILTER, as_xdp = BPF.XDP, as_sched_cls = BPF.SCHED_CLS,
        as_cgroup_skb = BPF.CGROUP_SKB, as_cgroup_sockopt = BPF.CGROUP_SOCKOPT} do
      local f = b:load_func(name, type)
      assert.are.equal(name, f.name)
      assert.is_true(f.fd > 0)
      assert.are.equal(type, fd_prog_type(f.fd), name)
      assert.are.equal(f, b:load_func(name, type)) -- loaded once
    end
    assert.are.equal(0, b:num_open_tracepoints() + b:num_open_uprobes())
    b:cleanup()
  end)

  it("says what is wrong", function()
    local b = BPF{text = "int f(void *ctx) { return 0; }\nint g(void *ctx) { return 0; }"}
    assert.has_error(function() b:load_func("nope", BPF.KPROBE) end,
      "load_func: no function named 'nope' to attach (the program's non-static functions: f, g)")
    assert.has_error(function() b:load_func("f", 12345) end,
      "load_func: expected a program type such as BPF.KPROBE, BPF.TRACEPOINT or BPF.XDP as the second argument")
    assert.has_error(function() b:load_func("f", BPF.TRACING) end,
      "load_func: a TRACING function is named kfunc__FUNCTION or kretfunc__FUNCTION, not 'f'")
    assert.has_error(function() b:load_func("f", BPF.LSM) end,
      "load_func: an LSM function is named lsm__HOOK, not 'f'")
    -- This kernel refuses fentry and LSM programs; the Debian 6.1 VM loads them
    -- (spec/kernel/load_func_btf_spec.lua).
    -- (A kfunc__ function is also bcc's KFUNC_PROBE convention, attached at load: on this
    -- kernel BPF{} itself refuses it, saying why.)
    local ok, err = pcall(function()
      local tb = BPF{text = "int kfunc__vfs_read(void *ctx) { return 0; }"}
      local loaded, load_err = pcall(tb.load_func, tb, "kfunc__vfs_read", BPF.TRACING)
      tb:cleanup()
      assert(loaded, load_err)
    end)
    if not ok then
      assert.matches("this kernel refuses [%w_ ()]+ programs %(EPERM", tostring(err))
    end
    local k = b:load_func("f", BPF.KPROBE)
    assert.has_error(function() b:attach_tracepoint{tp = "syscalls:sys_enter_getppid", fn = k} end,
      "'f' was loaded as kprobe; this attach needs tracepoint")
    b:cleanup()
  end)

  it("attach_* takes a loaded function with fn = f", function()
    local b = BPF{text = [[
      BPF_ARRAY(hits, u64, 1);
      int count(void *ctx) {
        if ((bpf_get_current_pid_tgid() >> 32) == PID) hits.atomic_increment(0);
        return 0;
      }
    ]], cflags = {"-DPID=" .. pid}}
    local f = b:load_func("count", BPF.TRACEPOINT)
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn = f}
    b:attach_tracepoint{tp_re = "^syscalls:sys_exit_getpriority$", fn = f}
    for _ = 1, 3 do h.getpriority(1) end
    assert.are.equal(6, b.hits:get(0))
    assert.has_error(function() b:attach_tracepoint{tp = "syscalls:sys_enter_getppid", fn = {}} end,
      "fn must be a function this object's load_func returned (and not yet closed)")
    b:cleanup()
  end)
end)

describe("BPF_PROG_ARRAY and tail calls", function()
  setup(function()
    assert(h.require_bpf())
  end)

  -- entry (attached) -> jump[0] = stage1 -> jump[1] = stage2; each counts its slot, and the
  -- code after a call runs only when the slot is empty.
  local PROGRAM = [[
    BPF_PROG_ARRAY(jump, 4);
    BPF_ARRAY(hits, u64, 8);
    int entry(void *ctx) {
      if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
      hits.atomic_increment(0);
      jump.call(ctx, 0);
      hits.atomic_increment(4); /* slot 0 empty */
      return 0;
    }
    int stage1(void *ctx) {
      hits.atomic_increment(1);
      jump.call(ctx, 1);
      hits.atomic_increment(5); /* slot 1 empty */
      return 0;
    }
    int stage2(void *ctx) {
      hits.atomic_increment(2);
      return 0;
    }
  ]]

  local function counts(b)
    local t = {}
    for i = 0, 5 do t[i + 1] = b.hits:get(i) end
    return t
  end

  it("chains three programs, and falls through where a slot is empty", function()
    local b = BPF{text = PROGRAM, cflags = {"-DPID=" .. pid}}
    local jump = b["jump"]
    jump[0] = b:load_func("stage1", BPF.TRACEPOINT)
    jump:set(1, b:load_func("stage2", BPF.TRACEPOINT))
    assert.is_true(jump[0] > 0 and jump[1] > 0) -- the programs' kernel ids
    assert.is_nil(jump[2])
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "entry"}
    for _ = 1, 3 do h.getpriority(1) end
    assert.are.same({3, 3, 3, 0, 0, 0}, counts(b))
    jump[1] = nil
    h.getpriority(1)
    assert.are.same({4, 4, 3, 0, 0, 1}, counts(b))
    jump:delete(0)
    h.getpriority(1)
    assert.are.same({5, 4, 3, 0, 1, 1}, counts(b))
    b:cleanup()
  end)

  it("says what is wrong with a slot", function()
    local b = BPF{text = PROGRAM, cflags = {"-DPID=" .. pid}}
    local jump = b["jump"]
    assert.has_error(function() jump[4] = b:load_func("stage1", BPF.TRACEPOINT) end,
      "set: index must be an integer from 0 to 3")
    assert.has_error(function() jump[0] = "stage1" end,
      "set: expected a function from load_func (or a program's fd)")
    -- A program array holds one program type: the kernel refuses another.
    jump[0] = b:load_func("stage1", BPF.TRACEPOINT)
    assert.has_error(function() jump[1] = b:load_func("stage2", BPF.KPROBE) end,
      "set: cannot put stage2 in jump[1]: Invalid argument")
    b:cleanup()
  end)
end)
