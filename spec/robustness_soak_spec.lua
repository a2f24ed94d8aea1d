-- scripts/bench/soak.lua in a short run: numbered events through a ring and a perf buffer
-- all accounted for (delivered + dropped == produced), in order, and objects created and
-- dropped without their descriptors or memory growing. The figures of a full run (60 s,
-- 10,000 objects) are the benchmark's to print; here the checks must pass.
local h = require("spec.helpers")

describe("robustness: the soak test, shortened", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("accounts for every event and keeps descriptors flat", function()
    local out, err, status = h.run("bpflua scripts/bench/soak.lua -d 2 -n 150")
    assert.are.equal(0, status, out .. err)
    assert.matches("ring: delivered %+ dropped == produced +ok", out)
    assert.matches("perf: delivered %+ lost == produced +ok", out)
    assert.matches("objects: descriptors back to where they started +ok", out)
    assert.matches("all checks passed", out)
    local produced = tonumber(out:match("ring buffer +(%d+)"))
    assert.is_true(produced > 1000, out)
  end)
end)
