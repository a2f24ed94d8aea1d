-- The object cache knows the prelude's headers (bpf/bpflua/*.h, libbpf's) by their identity
-- (size, inode, modification and change times), not by hashing their contents at each run:
-- a header whose contents change misses, even when its size and modification time are put
-- back, and an object compiled before the prelude was built (against the kernel types it
-- names) misses too.
local h = require("spec.helpers")

describe("the object cache's key", function()
  local cache, bpf_dir, script

  setup(function()
    assert(h.require_bpf())
    cache, bpf_dir = h.tmpdir(), h.tmpdir()
    os.execute("chmod 700 " .. cache)
    -- A copy of the headers that this spec may change (the build's are links to the tree's).
    assert(os.execute("cp -rL " .. os.getenv("BPFLUA_BPF_DIR") .. "/. " .. bpf_dir) == 0)
    script = os.tmpname()
    h.write_file(script, string.format([[
      local BPF = require("bpflua")
      local b = BPF{text = [=[
        BPF_ARRAY(counts, u64, 1);
        TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
          if (args->who != %s) return 0;
          counts.increment(0);
          return 0;
        }
      ]=]}
      print(b.cache_hit and "hit" or "miss")
    ]], h.unique()))
  end)

  teardown(function()
    h.wait_for_prelude(cache)
    os.execute("rm -rf " .. cache .. " " .. bpf_dir)
    os.remove(script)
  end)

  local function run()
    local out, err, status = h.run("BPFLUA_CACHE_DIR=" .. cache .. " BPFLUA_BPF_DIR=" .. bpf_dir ..
      " bpflua " .. script)
    assert.are.equal(0, status, err)
    return out
  end

  -- Changes the header's text, keeping its size and its modification time.
  local function change(header)
    local f = assert(io.open(header, "rb"))
    local text = f:read("*a")
    f:close()
    local changed = text:sub(-1) == "\n" and text:sub(1, -2) .. " " or text:sub(1, -2) .. "\n"
    assert.are.equal(#text, #changed)
    assert(os.execute("touch -r " .. header .. " " .. cache .. "/mtime") == 0)
    h.write_file(header, changed)
    assert(os.execute("touch -r " .. cache .. "/mtime " .. header) == 0)
  end

  it("misses when a prelude header changes, though its size and modification time do not", function()
    local _, err, status = h.run("BPFLUA_CACHE_DIR=" .. cache .. " BPFLUA_BPF_DIR=" .. bpf_dir ..
      " bpflua --prepare")
    assert.are.equal(0, status, err)
    assert.are.equal("miss\n", run()) -- compiled against the prelude's PCH
    assert.are.equal("hit\n", run())
    local header = bpf_dir .. "/bpflua/tables.h"
    change(header)
    -- No prelude for these headers yet: compiled against the kernel types the program names,
    -- an object that records none of the prelude's headers itself.
    assert.are.equal("miss\n", run())
    assert.are.equal("hit\n", run())
    change(header)
    assert.are.equal("miss\n", run())
    assert.are.equal("hit\n", run())
  end)
end)
