-- libbpf's print hook belongs to the program that embeds bpflua: bpflua captures libbpf's
-- messages around its own calls (to explain failures) and leaves the program's hook in place.
local h = require("spec.helpers")

describe("libbpf's print hook", function()
  it("set by a program before it loads bpflua stays in place after bpflua's calls", function()
    assert(h.require_bpf())
    local script = os.tmpname() .. ".lua"
    h.write_file(script, [[
      jit.off() -- the hook is a Lua callback; C must not call back into compiled code
      local ffi = require("ffi")
      ffi.cdef[=[
      typedef int (*spec_print_fn)(int level, const char *fmt, void *args);
      spec_print_fn spec_libbpf_set_print(spec_print_fn fn) __asm__("libbpf_set_print");
      ]=]
      local libbpf = ffi.load("bpf")
      local messages = 0
      local hook = ffi.cast("spec_print_fn", function() messages = messages + 1; return 0 end)
      libbpf.spec_libbpf_set_print(hook)

      local BPF = require("bpflua")
      local b = BPF{text = "BPF_ARRAY(c, u64, 1);\n" ..
        "int f(void *ctx) { c.increment(0); return 0; }\n"}
      b:attach_raw_tracepoint{tp = "sys_enter", fn_name = "f"}
      local attached = pcall(b.attach_raw_tracepoint, b, {tp = "no_such_tp", fn_name = "f"})
      local ok, err = pcall(BPF, {text = "TRACEPOINT_PROBE(syscalls, sys_enter_getpid) {\n" ..
        "  return *(volatile int *)(long)args->__syscall_nr;\n}\n"})
      b:cleanup()
      print("bpflua", attached, ok, (tostring(err):match("the BPF verifier rejected program")))
      print("messages", messages)
      local current = libbpf.spec_libbpf_set_print(nil)
      print("same hook", ffi.cast("uintptr_t", current) == ffi.cast("uintptr_t", hook))
    ]])
    local out, err, status = h.run("luajit " .. script)
    os.remove(script)
    assert.are.equal(0, status, err)
    -- bpflua worked and still explained the rejection from what libbpf said ...
    assert.matches("bpflua\tfalse\tfalse\tthe BPF verifier rejected program\n", out, 1, true)
    -- ... without the program's hook seeing bpflua's messages, and the hook is still the
    -- program's own.
    assert.matches("messages\t0\n", out, 1, true)
    assert.matches("same hook\ttrue\n", out, 1, true)
  end)
end)
