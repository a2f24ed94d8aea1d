-- A BPF object inherited by a forked child (nginx workers, a daemon's helpers): the child can
-- read its tables, and its cleanup or exit leaves the parent's probes attached.
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[
int fork(void);
int waitpid(int pid, int *status, int options);
void _exit(int status);
]]

-- Runs fn in a forked child; returns the child's exit status.
local function in_child(fn)
  io.stdout:flush()
  local pid = ffi.C.fork()
  assert(pid >= 0, "fork failed")
  if pid == 0 then
    local ok = pcall(fn)
    ffi.C._exit(ok and 0 or 1)
  end
  local status = ffi.new("int[1]")
  ffi.C.waitpid(pid, status, 0)
  return status[0] / 256
end

describe("a BPF object in a forked child", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("reads the parent's tables, and its cleanup leaves the parent's probes attached", function()
    local b = h.probe("BPF_ARRAY(hits, u64, 1);", "hits.increment(0);")
    h.getpriority(1)
    local status = in_child(function()
      assert(b["hits"]:get(0) == 1)
      b:cleanup() -- tears the child's copy down: detaches nothing of the parent's
    end)
    assert.are.equal(0, status)
    h.getpriority(1)
    h.getpriority(1)
    assert.are.equal(3, b["hits"]:get(0))
    b:cleanup()
  end)

  it("leaves attach_* probes of the parent attached when a child collects them", function()
    local b = require("bpflua"){text = [[
      BPF_ARRAY(hits, u64, 1);
      int on_getpriority(void *ctx) {
        if ((bpf_get_current_pid_tgid() >> 32) == PID) hits.increment(0);
        return 0;
      }
    ]], cflags = {"-DPID=" .. h.getpid()}}
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "on_getpriority"}
    assert.are.equal(0, in_child(function()
      b:detach_tracepoint{tp = "syscalls:sys_enter_getpriority"}
    end))
    h.getpriority(1)
    assert.are.equal(1, b["hits"]:get(0))
    b:cleanup()
  end)
end)
