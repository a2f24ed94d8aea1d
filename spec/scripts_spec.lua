-- The trace scripts in scripts/, run as a user runs them, against a workload this spec makes.
local h = require("spec.helpers")

local run_script = h.run_script

describe("scripts", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local marker = "/tmp/bpflua-spec-" .. h.unique()

  it("ringbuf_output.lua prints FILENAME DIR_FD FLAGS MODE rows until Ctrl-C", function()
    local text, status = run_script("bpflua scripts/ringbuf_output.lua", "FILENAME",
      "cat " .. marker .. "-out 2>/dev/null; true")
    assert.are.equal(130, status, text)
    assert.matches("Printing openat() calls, ctrl-c to exit.", text, 1, true)
    assert.matches("FILENAME             DIR_FD      FLAGS       MODE", text, 1, true)
    -- filename[16] holds the first 15 characters of the path.
    local row = string.format("%-16s %10d %10d %10d", (marker .. "-out"):sub(1, 15), -100, 0, 0)
    assert.matches(row, text, 1, true)
  end)

  it("ringbuf_submit.lua prints the same rows through reserve and submit", function()
    local text, status = run_script("bpflua scripts/ringbuf_submit.lua", "FILENAME",
      "touch " .. marker .. "-submit; rm -f " .. marker .. "-submit")
    assert.are.equal(130, status, text)
    assert.matches(string.format("%-64s %10s %10s %10s", "FILENAME", "DIR_FD", "FLAGS", "MODE"), text, 1, true)
    -- touch opens with O_WRONLY|O_CREAT|O_NOCTTY|O_NONBLOCK (04000 + 0400 + 0100 + 01) and 0666.
    local row = string.format("%-64s %10d %10d %10d", marker .. "-submit", -100, 2369, 438)
    assert.matches(row, text, 1, true)
  end)

  it("count_opens.lua counts opens per process name", function()
    -- The cats run once it is counting; a report comes within the next second.
    local out, status = run_script("bpflua scripts/count_opens.lua -n 50", "Counting",
      "for i in 1 2 3 4 5; do cat /etc/hostname > /dev/null; done; sleep 1.2")
    assert.are.equal(130, status, out)
    assert.matches("COMM                OPENS", out, 1, true)
    -- The five cats may straddle two of the reports (one a second).
    local cat_opens = 0
    for n in out:gmatch("\ncat%s+(%d+)") do
      cat_opens = cat_opens + tonumber(n)
    end
    assert.is_true(cat_opens >= 5, out)
  end)
end)
