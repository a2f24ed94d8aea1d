-- The compiled-object cache and the prelude PCH cache: hits, invalidation, and refusing a
-- cache directory that others could write.
local BPF = require("bpflua")
local h = require("spec.helpers")

local function probe_source(tag)
  return "BPF_ARRAY(counts, u64, 1);\n" ..
    "TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {\n" ..
    "  if (args->who != " .. tag .. ") return 0;\n  counts.increment(0);\n  return 0;\n}\n"
end

-- Runs Lua code in a fresh bpflua host with environment assignments before it.
local function host(env, code)
  local path = os.tmpname()
  h.write_file(path, code)
  local out, err, status = h.run(env .. " bpflua " .. path)
  os.remove(path)
  return out, err, status
end

describe("the object cache", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("skips Clang when the same source is compiled again", function()
    local src = probe_source(h.unique())
    local first = BPF{text = src}
    assert.is_false(first.cache_hit)
    first:cleanup()
    local second = BPF{text = src}
    assert.is_true(second.cache_hit)
    second:cleanup()
  end)

  it("misses when anything that shapes the object changes (source, cflags)", function()
    local src = probe_source(h.unique())
    BPF{text = src}:cleanup()
    local other_flags = BPF{text = src, cflags = {"-DUNUSED=1"}}
    assert.is_false(other_flags.cache_hit)
    other_flags:cleanup()
    local other_source = BPF{text = src .. "\n// changed\n"}
    assert.is_false(other_source.cache_hit)
    other_source:cleanup()
  end)

  it("does not map LLVM into a process whose object is cached", function()
    local src = probe_source(h.unique())
    BPF{text = src}:cleanup() -- warm the cache from this process
    local code = string.format([[
      local BPF = require("bpflua")
      local b = BPF{text = %q}
      local maps = io.open("/proc/self/maps"):read("*a")
      print(b.cache_hit, maps:find("libLLVM", 1, true) ~= nil, maps:find("clang", 1, true) ~= nil)
    ]], src)
    local out, err, status = host("", code)
    assert.are.equal(0, status, err)
    assert.are.equal("true\tfalse\tfalse\n", out)
  end)

  it("rebuilds the PCH when the compiler changes", function()
    local dir = h.tmpdir()
    os.execute("chmod 700 " .. dir)
    local code = "local BPF = require('bpflua'); BPF{text = " .. string.format("%q", probe_source(h.unique())) .. "}"
    local _, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status, err)
    local function pchs()
      local out = h.run("ls " .. dir .. " | grep '\\.pch$' | sort")
      return out
    end
    local before = pchs()
    assert.are.equal(1, select(2, before:gsub("\n", "")))
    -- The compiler's identity (its file) is part of the key: a reinstalled compiler
    -- invalidates the PCH.
    local plugin = require("bpflua.config").library:gsub("libbpflua%.so%.0$", "libbpflua-clang.so")
    os.execute("touch " .. plugin)
    _, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code:gsub("BPF{", "BPF{cflags = {'-DX=1'}, "))
    assert.are.equal(0, status, err)
    local after = pchs()
    assert.are.equal(2, select(2, after:gsub("\n", "")))
    os.execute("rm -rf " .. dir)
  end)

  it("refuses a cache directory that others can write, warns, and still works", function()
    local dir = h.tmpdir()
    os.execute("chmod 777 " .. dir)
    local src = probe_source(h.unique())
    local code = "local BPF = require('bpflua'); local b = BPF{text = " .. string.format("%q", src) .. "}; print(b.cache_hit)"
    local out, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status, err)
    assert.are.equal("false\n", out)
    assert.matches("warning: not using cache directory " .. dir .. ": others can write it (mode 0777)", err, 1, true)
    -- Nothing was written into it.
    assert.are.equal("", (h.run("ls -A " .. dir)))
    os.execute("chmod 700 " .. dir .. " && chown nobody " .. dir)
    out, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status, err)
    assert.matches("not using cache directory " .. dir .. ": it is owned by uid", err, 1, true)
    os.execute("rm -rf " .. dir)
  end)
end)
