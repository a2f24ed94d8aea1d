-- bpflua --prepare: builds the compile cache for the running kernel (vmlinux.h, the prelude
-- PCH) ahead of the first script, which then compiles against it without building either.
local h = require("spec.helpers")

local function run(command)
  local p = io.popen(command .. " 2>&1; echo \"exit $?\"")
  local out = p:read("*a")
  p:close()
  return out
end

local function files(dir, pattern)
  local found = {}
  for name in io.popen("cd " .. dir .. " && find . -type f | sort"):lines() do
    if name:match(pattern) then
      found[#found + 1] = name
    end
  end
  return found
end

describe("bpflua --prepare", function()
  local dir
  before_each(function()
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -m 700 " .. dir)
  end)
  after_each(function()
    os.execute("rm -rf " .. dir)
  end)

  it("builds vmlinux.h and the PCH, and the first script then uses them", function()
    assert(h.require_bpf())
    local out = run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua --prepare")
    assert.are.equal("bpflua: the compile cache in " .. dir .. " is ready for this kernel\nexit 0\n",
      out)
    local vmlinux, pch = files(dir, "/vmlinux%.h$"), files(dir, "%.pch$")
    assert.are.equal(1, #vmlinux)
    assert.are.equal(1, #pch)
    local pch_path = dir .. "/" .. pch[1]
    local before = io.popen("stat -c %Y.%s " .. pch_path):read("*l")
    -- A program of its own: a cache miss that compiles against the prepared PCH.
    out = run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua -e 'local b = require(\"bpflua\"){text = " ..
      "\"BPF_HASH(prepare_spec_" .. h.unique() .. ");\"} print(b.cache_hit)'")
    assert.are.equal("false\nexit 0\n", out)
    assert.are.same(pch, files(dir, "%.pch$"))
    assert.are.equal(before, io.popen("stat -c %Y.%s " .. pch_path):read("*l"))
    -- Again: nothing left to build.
    out = run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua --prepare")
    assert.matches("ready for this kernel\nexit 0\n$", out)
  end)

  it("says why it cannot prepare, with exit status 1", function()
    local out = run("BPFLUA_CACHE_DIR=" .. dir .. " BPFLUA_BPF_DIR=/nonexistent bpflua --prepare")
    assert.matches("^[^\n]*: %-%-prepare: .+\nexit 1\n$", out)
  end)
end)
