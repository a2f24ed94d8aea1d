-- The options bcc's language tools (ucalls, ugc, uthreads) have beyond what
-- spec/usdt_spec.lua runs: ucalls -S (the process's syscalls counted, and timed with -L, by
-- name), ugc -F (only the collections whose description holds a text), -v (the program).
-- The workload is Debian's python3.11 (its USDT probes), driven over stdin.
local h = require("spec.helpers")
local Child = require("spec.usdt.child")

local PYTHON = "/usr/bin/python3.11"

-- A Python process that, for each line "calls N" or "gc N" on stdin, makes N getppid()
-- syscalls or N full collections, then prints "done".
local WORKLOAD = PYTHON .. " -u -c '" ..
  "import gc, os, sys\nprint(\"ready\", os.getpid())\ngc.disable()\n" ..
  "for line in sys.stdin:\n  what, n = line.split()\n" ..
  "  for i in range(int(n)):\n    os.getppid() if what == \"calls\" else gc.collect(2 if i % 2 else 0)\n" ..
  "  print(\"done\")\n'"

describe("ucalls, ugc, uthreads: bcc's remaining options", function()
  setup(function()
    assert(h.require_bpf())
    assert.is_truthy(io.open(PYTHON), PYTHON .. " is installed (setup.sh)")
  end)

  local function tool(script, args)
    return Child.start_with_pid("bpflua scripts/" .. script .. " " .. args)
  end

  local function finish(t)
    t:interrupt()
    return t:close()
  end

  it("ucalls -S counts the process's syscalls by name; -L times them; -l none needs no probes", function()
    local py = Child.start(WORKLOAD)
    local pid = py:wait_for("^ready (%d+)")
    local t = tool("ucalls.lua", "-l none -S " .. pid)
    t:wait_for("^Tracing calls in process " .. pid .. " %(language: none%)%.%.%. Ctrl%-C to quit%.")
    py:send("calls 137")
    py:wait_for("^done")
    local text = finish(t)
    assert.matches("METHOD%s+# CALLS\n", text)
    assert.matches("\ngetppid%s+137\n", text)

    t = tool("ucalls.lua", "-l none -S -L -m " .. pid)
    t:wait_for("^Tracing")
    py:send("calls 41")
    py:wait_for("^done")
    text = finish(t)
    py:close()
    assert.matches("METHOD%s+# CALLS TIME %(ms%)\n", text)
    assert.matches("\ngetppid%s+41%s+%d+%.%d%d\n", text)

    local _, err, bad = h.run("bpflua scripts/ucalls.lua -l none " .. pid)
    assert.are.equal(2, bad)
    assert.matches("-l none traces syscalls only: give -S", err, 1, true)
  end)

  it("ugc -F keeps the collections whose description holds the text", function()
    local py = Child.start(WORKLOAD)
    local pid = py:wait_for("^ready (%d+)")
    local t = tool("ugc.lua", "-F 'gen 2' " .. pid)
    t:wait_for("^START")
    py:send("gc 6")  -- generations 0, 2, 0, 2, 0, 2
    py:wait_for("^done")
    for _ = 1, 3 do
      t:wait_for("gen 2 GC")
    end
    local text = finish(t)
    py:close()
    local _, kept = text:gsub("\n[%d.]+%s+[%d.]+%s+gen 2 GC collected %d+ objects", "")
    assert.are.equal(3, kept, text)
    assert.not_matches("gen 0", text, 1, true)
  end)

  it("-v prints the BPF program first", function()
    local py = Child.start(WORKLOAD)
    local pid = py:wait_for("^ready (%d+)")
    for script, line in pairs({["ucalls.lua -l none -S"] = "TRACEPOINT_PROBE(raw_syscalls, sys_enter)",
                               ["ugc.lua"] = "int trace_gc_begin(struct pt_regs *ctx)",
                               ["uthreads.lua -l none"] = "struct thread_event"}) do
      local t = tool(script .. " -v", pid)
      t:wait_for("Ctrl%-C to quit")
      local text = finish(t)
      assert.matches(line, text, 1, true)
    end
    py:close()
  end)
end)
