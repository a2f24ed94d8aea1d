-- bpflua -e: one-liners have BPF and ffi at hand, as in the REPL, and trace for real.
local h = require("spec.helpers")

describe("bpflua -e", function()
  it("has BPF and ffi at hand", function()
    local out, err, status = h.run("bpflua -e 'print(type(BPF.new), type(ffi.new))'")
    assert.are.equal(0, status, err)
    assert.are.equal("function\tfunction\n", out)
  end)

  it("runs a one-line trace", function()
    assert(h.require_bpf())
    local code = "ffi.cdef('int getppid(void); int getpid(void);'); local b = BPF{text = [[BPF_ARRAY(n, u64, 1); TRACEPOINT_PROBE(syscalls, sys_enter_getppid) " ..
      "{ if ((bpf_get_current_pid_tgid() >> 32) == PID) n.increment(0); return 0; }]], " ..
      "cflags = {'-DPID=' .. ffi.C.getpid()}}; for i = 1, 7 do ffi.C.getppid() end; print(b['n']:get(0))"
    local out, err, status = h.run("bpflua -e \"" .. code .. "\"")
    assert.are.equal(0, status, err)
    assert.are.equal("7\n", out)
  end)
end)
