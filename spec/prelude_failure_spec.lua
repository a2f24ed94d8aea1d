-- A background build of the prelude PCH that fails is not silent: it leaves a stamp with its
-- error, the next run says so on stderr once (not every run), no build is tried again for an
-- hour, bpflua --prepare shows the error, and the build is tried again after that hour.
local h = require("spec.helpers")

-- Compiles a new program in a fresh host with the cache in dir; returns its stderr.
local function compile_new(dir)
  local path = os.tmpname()
  h.write_file(path, "local BPF = require('bpflua'); local b = BPF{text = " ..
    string.format("%q", h.counting_probe_source(h.unique())) .. "}; print(b.cache_hit)")
  local out, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " timeout 120 bpflua " .. path)
  os.remove(path)
  assert.are.equal(0, status, err)
  assert.are.equal("false\n", out)
  return err
end

local function exists(path)
  local ok = os.execute("test -e " .. path)
  return ok == 0 or ok == true
end

local warning = "bpflua: warning: the precompiled prelude for this kernel could not be built"

describe("a prelude build that fails in the background", function()
  it("is said once, shown by --prepare, and tried again later", function()
    assert(h.require_bpf())
    -- The PCH's name for this kernel and build, from a cache of its own.
    local scratch = h.private_cache_dir()
    local _, err, status = h.run("BPFLUA_CACHE_DIR=" .. scratch .. " bpflua --prepare")
    assert.are.equal(0, status, err)
    local name = h.run("cd " .. scratch .. " && ls prelude-*.pch"):gsub("\n$", "")
    os.execute("rm -rf " .. scratch)
    -- In a new cache, a directory where the PCH goes: building it fails at the rename.
    local dir = h.private_cache_dir()
    local pch = dir .. "/" .. name
    local stem = pch:gsub("%.pch$", "")
    os.execute("mkdir " .. pch)

    -- The first run compiles without the prelude and leaves its build to the background.
    err = compile_new(dir)
    assert.is_nil(err:find(warning, 1, true))
    h.wait_for_prelude(dir)
    assert.is_true(exists(stem .. ".failed"))
    local stamp = h.run("cat " .. stem .. ".failed")
    assert.matches("cannot write " .. pch .. ": Is a directory", stamp, 1, true)

    -- The next run says so, once; it does not start the build again.
    err = compile_new(dir)
    assert.matches(warning .. " (cannot write " .. pch .. ": Is a directory), so compiles " ..
      "take a slower path; `bpflua --prepare` shows why\n", err, 1, true)
    assert.are.equal(1, select(2, err:gsub("could not be built", "")))
    assert.is_false(exists(stem .. ".failed"))
    assert.is_true(exists(stem .. ".failed-reported"))
    err = compile_new(dir)
    assert.is_nil(err:find(warning, 1, true))
    h.wait_for_prelude(dir)
    assert.is_true(exists(stem .. ".failed-reported"))

    -- bpflua --prepare builds in the foreground, and fails with the error itself.
    local out
    out, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua --prepare")
    assert.are.equal(1, status, out)
    assert.matches("bpflua: --prepare: cannot write " .. pch .. ": Is a directory", err, 1, true)

    -- Once the cause is gone, and an hour later, the build is tried again and succeeds.
    os.execute("rmdir " .. pch)
    err = compile_new(dir)
    assert.is_nil(err:find(warning, 1, true))
    h.wait_for_prelude(dir)
    assert.is_false(exists(pch))
    os.execute("touch -d '2 hours ago' " .. stem .. ".failed-reported")
    err = compile_new(dir)
    assert.is_nil(err:find(warning, 1, true))
    h.wait_for_prelude(dir)
    assert.is_true(exists(pch))
    assert.is_false(exists(stem .. ".failed"))
    assert.is_false(exists(stem .. ".failed-reported"))
    -- And the run after that compiles against it (no trimmed compile, no build).
    local path = os.tmpname()
    h.write_file(path, "local BPF = require('bpflua'); BPF{text = " ..
      string.format("%q", h.counting_probe_source(h.unique())) .. "}")
    _, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " BPFLUA_DEBUG=1 bpflua " .. path)
    os.remove(path)
    assert.are.equal(0, status, err)
    assert.is_nil(err:find("no prelude for this kernel yet", 1, true))
    os.execute("rm -rf " .. dir)
  end)

  it("records the compiler's errors when the prelude does not compile", function()
    assert(h.require_bpf())
    local dir = h.private_cache_dir()
    -- A vmlinux.h that the prelude cannot compile: the build's compile fails.
    local scratch = h.private_cache_dir()
    local _, err, status = h.run("BPFLUA_CACHE_DIR=" .. scratch .. " bpflua --prepare")
    assert.are.equal(0, status, err)
    local kernel = h.run("cd " .. scratch .. " && ls -d kernel-*"):gsub("\n$", "")
    os.execute("rm -rf " .. scratch)
    os.execute("mkdir -m 700 " .. dir .. "/" .. kernel)
    h.write_file(dir .. "/" .. kernel .. "/vmlinux.h", "this is not C;\n")
    compile_new(dir)
    h.wait_for_prelude(dir)
    local stamp = h.run("cat " .. dir .. "/prelude-*.failed")
    assert.matches("cannot precompile bpflua's prelude", stamp, 1, true)
    assert.matches("vmlinux.h:1:1: error: unknown type name 'this'", stamp, 1, true)
    err = compile_new(dir)
    local function literal(text)
      return (text:gsub("%p", "%%%0"))
    end
    assert.matches(literal(warning .. " (cannot precompile bpflua's prelude (" .. dir .. "/prelude-") ..
      "%x+" .. literal(".h): " .. dir .. "/kernel-") .. "%x+" ..
      literal("/vmlinux.h:1:1: error: unknown type name 'this'), so compiles"), err)
    os.execute("rm -rf " .. dir)
  end)
end)
