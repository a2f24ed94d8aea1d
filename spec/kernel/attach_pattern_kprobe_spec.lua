-- attach_kprobe/attach_kretprobe by regular expression (bcc's event_re), for real: the
-- development kernel has no kprobes, so this runs in Debian's 6.1 kernel under QEMU
-- (scripts/vmtest.sh); tagged #vm so that the native run leaves it out.
-- Until the native run leaves #vm files out by their tag, a kernel without kprobes (the
-- development VM, where none of this can load) defines no tests here.
local kprobes = io.open("/sys/bus/event_source/devices/kprobe/type")
if not kprobes then
  return
end
kprobes:close()

local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef("int getpgid(int pid);")

local pid = h.getpid()
local WHO = 5000000 -- no such process: getpriority fails with ESRCH, the probes still fire

describe("kprobes by regular expression #kernel #vm", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("event_re attaches entry and return probes to every match and detaches them together", function()
    -- The architecture's syscall wrappers of getpriority and getpgid.
    local re = "^__(x64|arm64)_sys_get(priority|pgid)$"
    assert.are.equal(2, #BPF.get_kprobe_functions(re))
    local b = BPF{text = [[
      BPF_ARRAY(hits, u64, 2);
      static int mine(void) { return (bpf_get_current_pid_tgid() >> 32) == PID; }
      int on_entry(void *ctx) { if (mine()) hits.atomic_increment(0); return 0; }
      int on_return(void *ctx) { if (mine()) hits.atomic_increment(1); return 0; }
    ]], cflags = {"-DPID=" .. pid}}
    b:attach_kprobe{event_re = re, fn_name = "on_entry"}
    b:attach_kretprobe{event_re = re, fn_name = "on_return"}
    assert.are.equal(4, b:num_open_kprobes())
    for _ = 1, 3 do h.getpriority(WHO) end
    for _ = 1, 2 do ffi.C.getpgid(0) end
    assert.are.equal(5, b.hits:get(0))
    assert.are.equal(5, b.hits:get(1))
    b:detach_kprobe{event_re = re}
    b:detach_kretprobe{event_re = re}
    assert.are.equal(0, b:num_open_kprobes())
    h.getpriority(WHO)
    assert.are.equal(5, b.hits:get(0))
    b:cleanup()
  end)
end)
