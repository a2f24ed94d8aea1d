-- libbpflua's C ABI: runtime/bpflua.h is the one copy. The FFI's declarations are generated
-- from it (bpflua.abi), and the library exports exactly the header's functions.
local config = require("bpflua.config")
local h = require("spec.helpers")

local function header_functions()
  local names = {}
  for name in require("bpflua.abi"):gmatch("(bpflua_[%w_]+)%s*%(") do
    names[name] = true
  end
  return names
end

describe("libbpflua's ABI", function()
  it("exports the functions of bpflua.h and nothing else", function()
    local out, err, status = h.run("nm -D --defined-only " .. config.library)
    assert.are.equal(0, status, err)
    local exported = {}
    for kind, name in out:gmatch("%x* ?(%a) ([%w_]+)@*[%w_]*\n") do
      if kind == "T" or kind == "D" or kind == "B" or kind == "R" or kind == "W" then
        exported[name] = true
      end
    end
    assert.are.same(header_functions(), exported)
  end)

  it("gives Lua the header's enum constants", function()
    local lib = require("bpflua.cdefs")
    assert.are.equal(0, lib.BPFLUA_ATTACH_TRACEPOINT)
    assert.are.equal(6, lib.BPFLUA_ATTACH_KRETPROBE)
  end)
end)
