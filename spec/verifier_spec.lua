-- A program the verifier rejects: the error names it, shows the end of the verifier log,
-- and nothing stays loaded or attached.
local BPF = require("bpflua")
local h = require("spec.helpers")

describe("verifier rejections", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("name the program and show the tail of the verifier log", function()
    local before = h.kernel_objects()
    local ok, err = pcall(BPF.new, {text = [[
      BPF_HASH(counts, int, u64);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        return 0;
      }
      TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
        int k = 0;
        u64 *v = counts.lookup(&k);
        return *v;   /* no NULL check: the verifier refuses */
      }
    ]]})
    assert.is_false(ok)
    assert.matches("the BPF verifier rejected program 'tracepoint__syscalls__sys_enter_getppid'", err, 1, true)
    assert.matches("invalid mem access 'map_value_or_null'", err, 1, true)
    -- The first program had loaded and must be gone too.
    h.assert_kernel_objects(before)
  end)
end)
