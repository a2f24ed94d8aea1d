-- A tracepoint the kernel lacks is an error only in code the preprocessor keeps: bcc tools
-- keep probes for other kernels under #if/#ifdef, and those are never compiled, so never
-- checked against tracefs.
local BPF = require("bpflua")
local h = require("spec.helpers")

local ABSENT = "TRACEPOINT_PROBE(syscalls, sys_enter_bpflua_nonesuch) { return args->nonesuch; }"
local NAMED = "int tracepoint__bpflua_nonesuch__ev(struct tracepoint__bpflua_nonesuch__ev *args) { return 0; }"

-- A program that counts this process's getpriority calls, with `hidden` before it.
local function counting(hidden)
  return hidden .. "\n" .. [[
BPF_ARRAY(calls, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
  if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
  int k = 0; u64 *n = calls.lookup(&k);
  if (n) __sync_fetch_and_add(n, 1);
  return 0;
}
]]
end

local function loads_and_counts(hidden)
  local b = BPF{text = counting(hidden), cflags = {"-DPID=" .. h.getpid()}}
  h.getpriority(0)
  h.getpriority(0)
  assert.are.equal(2, tonumber(b["calls"]:get(0)))
  b:cleanup()
end

describe("a TRACEPOINT_PROBE of a tracepoint the kernel lacks", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("loads when the preprocessor drops it (#if 0, #ifdef of an unset option, #else)", function()
    loads_and_counts("#if 0\n" .. ABSENT .. "\n#endif")
    loads_and_counts("#ifdef CONFIG_BPFLUA_NOT_SET\n" .. ABSENT .. "\n" .. NAMED .. "\n#endif")
    loads_and_counts("#define HAVE_IT 1\n#if HAVE_IT\n#else\n" .. ABSENT .. "\n#endif")
  end)

  it("is the clear error, at its category, where the preprocessor keeps it", function()
    local before = h.kernel_objects()
    local ok, err = pcall(BPF.new, {text = counting("#if 1\n" .. ABSENT .. "\n#endif"),
      cflags = {"-DPID=1"}})
    assert.is_false(ok)
    assert.matches("^<text>:2:18: error: tracepoint syscalls:sys_enter_bpflua_nonesuch does not exist " ..
      "%(see [^\n]*/events/syscalls/%)\n    2 | " .. ABSENT:gsub("%p", "%%%0") .. "\n      |                  %^$", err)
    h.assert_kernel_objects(before)
  end)

  it("is the error at a function named for it that the preprocessor keeps", function()
    local ok, err = pcall(BPF.new, {text = "\n" .. NAMED .. "\n"})
    assert.is_false(ok)
    assert.matches("^<text>:2:5: error: tracepoint bpflua_nonesuch:ev does not exist", err)
  end)

  it("is the error when an #if that -D sets keeps it", function()
    local hidden = "#ifdef WANT_IT\n" .. ABSENT .. "\n#endif"
    loads_and_counts(hidden)
    local ok, err = pcall(BPF.new, {text = counting(hidden), cflags = {"-DPID=1", "-DWANT_IT"}})
    assert.is_false(ok)
    assert.matches("^<text>:2:18: error: tracepoint syscalls:sys_enter_bpflua_nonesuch does not exist", err)
  end)
end)
