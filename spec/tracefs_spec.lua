-- Where tracefs is: every reader of it asks bpflua_tracefs_dir(), which falls back to
-- debugfs's /sys/kernel/debug/tracing on a system without /sys/kernel/tracing.
local h = require("spec.helpers")

describe("tracefs", function()
  it("is found under debugfs where /sys/kernel/tracing is missing, by every reader", function()
    assert(h.require_bpf())
    local who = h.unique()
    local script = os.tmpname() .. ".lua"
    h.write_file(script, [[
      local BPF = require("bpflua")
      local ffi = require("ffi")
      ffi.cdef("int getpriority(int which, int who);")
      print("exists", BPF.tracepoint_exists("syscalls", "sys_enter_getpriority"))
      local b = BPF{text = [==[
        BPF_ARRAY(c, u64, 2);
        TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
          if (args->who == WHO) c.increment(0);
          return 0;
        }
        int on_enter(void *ctx) { c.increment(1); return 0; }
      ]==], cflags = {"-DWHO=]] .. who .. [["}}
      b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "on_enter"}
      ffi.C.getpriority(0, ]] .. who .. [[)
      print("counts", b["c"]:get(0), b["c"]:get(1) >= 1)
    ]])
    -- In a mount namespace of its own: a tmpfs hides /sys/kernel (tracefs included) but for
    -- the kernel's BTF, and debugfs, mounted at /sys/kernel/debug, brings tracefs along.
    local hide = os.tmpname()
    os.remove(hide)
    local out, err, status = h.run(string.format([[
      unshare -m --propagation private sh -ec '
        mkdir -p %s && mount -t tmpfs none %s && mkdir %s/btf %s/debug
        mount --bind /sys/kernel/btf %s/btf && mount --move %s /sys/kernel
        mount -t debugfs none /sys/kernel/debug
        test ! -e /sys/kernel/tracing && test -e /sys/kernel/debug/tracing/events
        bpflua %s'
    ]], hide, hide, hide, hide, hide, hide, script))
    os.remove(script)
    os.execute("rmdir " .. hide .. " 2>/dev/null")
    assert.are.equal(0, status, err)
    assert.matches("exists\ttrue\n", out, 1, true)
    assert.matches("counts\t1\ttrue\n", out, 1, true)
  end)
end)
