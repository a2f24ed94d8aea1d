-- The REPL must not crash or hang on what a session can hold: NULL struct pointers (shown
-- and completed), BPF objects after cleanup() (completed), a history file that is a FIFO.
-- Each runs in a bpflua process of its own, so that a crash fails the case, not the run.
local h = require("spec.helpers")

-- Runs Lua code in the bpflua host (with bpflua's REPL modules at hand) and returns its
-- output and exit status.
local function host(code)
  local path = os.tmpname()
  h.write_file(path, code)
  local out, err, status = h.run("timeout 60 bpflua " .. path)
  os.remove(path)
  return out .. err, status
end

local prelude = [[
  local BPF = require("bpflua")
  local ffi = require("ffi")
  local pretty = require("bpflua.pretty")
  local complete = require("bpflua.complete")
  local b = BPF{text = "struct event { u32 a; u64 b; }; BPF_RINGBUF_OUTPUT(ring, 8); BPF_HASH(counts); " ..
    "int f(void *ctx) { struct event e = {}; ring.ringbuf_output(&e, sizeof(e), 0); return 0; }"}
  local null = ffi.cast(ffi.typeof("$ *", b["ring"]:event_type()), nil)
]]

describe("robustness: the REPL", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("shows a NULL struct pointer as NULL", function()
    local out, status = host(prelude .. [[
      print(pretty.show(null))
      print(pcall(b["ring"].event, b["ring"], nil))
    ]])
    assert.are.equal(0, status, out)
    assert.matches("^NULL\n", out)
    assert.matches("false\t.*event%(data%) takes the data pointer a callback receives, not a NULL pointer", out)
  end)

  it("completes nothing through a NULL struct pointer", function()
    local out, status = host(prelude .. [[
      local env = {p = null, q = {p = null}}
      print(#complete.candidates(env, "p.", 2), #complete.candidates(env, "q.p.a.", 6),
        #complete.candidates(env, "p.a.", 4))
      print(#complete.candidates({e = b["ring"]:copy(ffi.new("uint8_t[16]"))}, "e.", 2))
    ]])
    assert.are.equal(0, status, out)
    -- The fields of p's type are named without reading through it.
    assert.matches("^2\t0\t0\n2\n", out)
  end)

  it("completes nothing from a BPF object after cleanup()", function()
    local out, status = host(prelude .. [[
      local env = {b = b}
      print(table.concat(complete.candidates(env, 'b["', 3), " "))
      b:cleanup()
      print(#complete.candidates(env, 'b["', 3), #complete.candidates(env, "b.", 2) > 0)
      print(pretty.show(b), pretty.show(b["counts"] == nil))
    ]])
    assert.matches("^counts\"%] ring\"%]\n0\ttrue\n", out)
    assert.are_not.equal(0, status) -- b["counts"] after cleanup is an error...
    assert.matches("BPF object was cleaned up", out) -- ...saying so
  end)

  it("starts with a FIFO for a history file, warning that it keeps no history", function()
    local home = h.tmpdir()
    assert(os.execute("mkfifo " .. home .. "/.bpflua_history") == 0)
    local out, _, status = h.run("(sleep 0.5; printf '20 + 22\\r'; sleep 0.5; printf '\\004'; sleep 0.5) | " ..
      "timeout 20 script -qec 'env HOME=" .. home .. " bpflua' /dev/null")
    os.execute("rm -rf " .. home)
    assert.are.equal(0, status, out)
    assert.matches("\n42\r?\n", out)
    assert.matches("not keeping history in .*%.bpflua_history: it is a fifo", out)
  end)
end)
