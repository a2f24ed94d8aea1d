-- The compiled-object cache and the prelude PCH cache: hits, invalidation by the headers an
-- object was compiled from, entries that are damaged or are not files, refusing a cache
-- directory that others could write or no one can, and the fallback directories.
local BPF = require("bpflua")
local h = require("spec.helpers")

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
    local src = h.counting_probe_source(h.unique())
    local first = BPF{text = src}
    assert.is_false(first.cache_hit)
    first:cleanup()
    local second = BPF{text = src}
    assert.is_true(second.cache_hit)
    second:cleanup()
  end)

  it("misses when anything that shapes the object changes (source, cflags)", function()
    local src = h.counting_probe_source(h.unique())
    BPF{text = src}:cleanup()
    local other_flags = BPF{text = src, cflags = {"-DUNUSED=1"}}
    assert.is_false(other_flags.cache_hit)
    other_flags:cleanup()
    local other_source = BPF{text = src .. "\n// changed\n"}
    assert.is_false(other_source.cache_hit)
    other_source:cleanup()
  end)

  it("does not map LLVM into a process whose object is cached", function()
    local src = h.counting_probe_source(h.unique())
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
    local code = "local BPF = require('bpflua'); BPF{text = " .. string.format("%q", h.counting_probe_source(h.unique())) .. "}"
    local _, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status, err)
    h.wait_for_prelude(dir)
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
    h.wait_for_prelude(dir)
    local after = pchs()
    assert.are.equal(2, select(2, after:gsub("\n", "")))
    os.execute("rm -rf " .. dir)
  end)

  it("refuses a cache directory that others can write, warns, and still works", function()
    local dir = h.tmpdir()
    os.execute("chmod 777 " .. dir)
    local src = h.counting_probe_source(h.unique())
    local code = "local BPF = require('bpflua'); local b = BPF{text = " .. string.format("%q", src) .. "}; print(b.cache_hit)"
    local out, err, status = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status, err)
    assert.are.equal("false\n", out)
    assert.matches("warning: not using cache directory " .. dir .. ": others can write it (mode 0777)", err, 1, true)
    -- Nothing was written into it.
    assert.are.equal("", (h.run("ls -A " .. dir)))
    os.execute("chmod 700 " .. dir .. " && chown nobody " .. dir)
    local _, err2, status2 = host("BPFLUA_CACHE_DIR=" .. dir, code)
    assert.are.equal(0, status2, err2)
    assert.matches("not using cache directory " .. dir .. ": it is owned by uid", err2, 1, true)
    os.execute("rm -rf " .. dir)
  end)
end)

describe("the object cache's key", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("covers the headers included through -I: editing one recompiles", function()
    local dir = h.tmpdir()
    local who = 61000 + math.random(1000)
    local src = '#include "value.h"\n' .. h.counting_probe_source(who):gsub("counts.increment%(0%)", "counts.increment(0, VALUE)")
    local function run()
      local b = BPF{text = src, cflags = {"-I" .. dir}}
      h.getpriority(who)
      local hit, count = b.cache_hit, tonumber(b["counts"]:get(0))
      b:cleanup()
      return hit, count
    end
    h.write_file(dir .. "/value.h", "#define VALUE 1\n")
    assert.are.same({false, 1}, {run()})
    assert.are.same({true, 1}, {run()})
    h.write_file(dir .. "/value.h", "#define VALUE 2 /* edited */\n")
    assert.are.same({false, 2}, {run()})
    assert.are.same({true, 2}, {run()})
    os.execute("rm -rf " .. dir)
  end)
end)

describe("a cache entry", function()
  local dir

  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
    os.execute("chmod 700 " .. dir)
  end)

  teardown(function()
    h.wait_for_prelude(dir)
    os.execute("rm -rf " .. dir)
  end)

  local function entries()
    local set = {}
    for name in h.run("ls " .. dir):gmatch("[^\n]+") do
      if name:match("^object%-.*%.entry$") then
        set[name] = true
      end
    end
    return set
  end

  -- Compiles src in a host using the spec's cache directory; returns "true"/"false" (a hit).
  -- A host that hangs is ended by timeout(1), and the assertion says so.
  local function compile(src)
    local code = "local BPF = require('bpflua'); local b = BPF{text = " .. string.format("%q", src) ..
      "}; print(b.cache_hit)"
    local out, err, status = host("BPFLUA_CACHE_DIR=" .. dir .. " timeout 60", code)
    assert.are.equal(0, status, err)
    return (out:gsub("\n$", ""))
  end

  -- Compiles a new program; returns its source and its entry's path.
  local function new_entry()
    local src = h.counting_probe_source(h.unique())
    local before = entries()
    assert.are.equal("false", compile(src))
    for name in pairs(entries()) do
      if not before[name] then
        return src, dir .. "/" .. name
      end
    end
    error("no entry was written")
  end

  -- Whatever was done to the entry, the next compile is a miss that writes a good entry.
  local function assert_recompiled(src, path)
    assert.are.equal("false", compile(src))
    assert.are.equal(path .. "\n", (h.run("find " .. path .. " -type f -size +0")))
    assert.are.equal("true", compile(src))
  end

  it("that is truncated is removed and compiled again", function()
    local src, path = new_entry()
    local size = tonumber((h.run("stat -c %s " .. path)))
    os.execute("truncate -s " .. math.floor(size / 2) .. " " .. path)
    assert_recompiled(src, path)
    os.execute("truncate -s 0 " .. path)
    assert_recompiled(src, path)
  end)

  it("with garbage in it is removed and compiled again", function()
    local src, path = new_entry()
    os.execute("printf 'garbage' | dd of=" .. path .. " bs=1 seek=300 conv=notrunc 2>/dev/null")
    assert_recompiled(src, path)
  end)

  it("that is a symbolic link is not followed", function()
    local _, other = new_entry()
    local src, path = new_entry()
    os.execute("ln -sf " .. other .. " " .. path)
    assert_recompiled(src, path)
    assert.is_true(h.run("test -f " .. other .. " && echo ok") == "ok\n")
  end)

  it("that holds another program's object is not loaded", function()
    local _, other = new_entry()
    local src, path = new_entry()
    os.execute("cp " .. other .. " " .. path)
    assert_recompiled(src, path)
    assert.are_not.equal(h.run("cat " .. other), h.run("cat " .. path))
  end)

  it("that is a FIFO does not hang the compile", function()
    local src, path = new_entry()
    os.execute("rm " .. path .. " && mkfifo " .. path)
    assert_recompiled(src, path)
  end)

  it("whose PCH is a FIFO gets its PCH rebuilt", function()
    h.wait_for_prelude(dir) -- the one the first entry's compile left building
    local pch = h.run("ls " .. dir .. "/prelude-*.pch"):gsub("\n$", "")
    os.execute("rm " .. pch .. " && mkfifo " .. pch)
    new_entry()
    h.wait_for_prelude(dir)
    assert.are.equal(pch .. "\n", (h.run("find " .. pch .. " -type f")))
  end)
end)

describe("the fallback cache directories", function()
  local tmp

  setup(function()
    assert(h.require_bpf())
    tmp = h.tmpdir()
  end)

  teardown(function()
    os.execute("rm -rf " .. tmp)
  end)

  local compile_code = "local BPF = require('bpflua'); local b = BPF{text = %q}; print(b.cache_hit)"

  it("replace a read-only cache directory with $TMPDIR/bpflua-<uid>, reused by later runs", function()
    local ro = h.tmpdir()
    assert.are.equal(0, select(3, h.run("mount -t tmpfs -o ro,mode=0700 tmpfs " .. ro)))
    local code = string.format(compile_code, h.counting_probe_source(h.unique()))
    local env = "TMPDIR=" .. tmp .. " BPFLUA_CACHE_DIR=" .. ro
    local out, err, status = host(env, code)
    local out2, err2, status2 = host(env, code)
    h.run("umount " .. ro)
    os.execute("rm -rf " .. ro)
    assert.are.equal(0, status, err)
    assert.are.equal("false\n", out)
    local uid = (h.run("id -u")):gsub("\n", "")
    assert.matches("warning: not using cache directory " .. ro .. ": it cannot be written " ..
      "(Read-only file system); using " .. tmp .. "/bpflua-" .. uid .. " instead", err, 1, true)
    assert.are.equal(0, status2, err2)
    assert.are.equal("true\n", out2)
    assert.are.equal("700 " .. uid .. "\n", (h.run("stat -c '%a %u' " .. tmp .. "/bpflua-" .. uid)))
  end)

  it("end with a private directory, removed at exit and after SIGTERM, when nothing else is trusted", function()
    local untrusted = h.tmpdir()
    local uid = (h.run("id -u")):gsub("\n", "")
    local shared = tmp .. "/bpflua-" .. uid
    os.execute("mkdir -p " .. shared .. " && chmod 777 " .. untrusted .. " " .. shared)
    local env = "TMPDIR=" .. tmp .. " BPFLUA_CACHE_DIR=" .. untrusted
    local out, err, status = host(env, string.format(compile_code, h.counting_probe_source(h.unique())))
    assert.are.equal(0, status, err)
    assert.are.equal("false\n", out)
    assert.matches("nor " .. shared .. ": others can write it (mode 0777); compiling in " .. tmp ..
      "/bpflua-" .. uid .. ".", err, 1, true)
    -- Its vmlinux.h, PCH and object went with it.
    assert.are.equal("bpflua-" .. uid .. "\n", (h.run("ls " .. tmp)))

    -- A host killed by SIGTERM leaves its directory; the next run removes it.
    local script = os.tmpname()
    h.write_file(script, string.format(compile_code, h.counting_probe_source(h.unique())) ..
      "; io.stdout:flush(); require('bpflua').sleep(60)")
    local listing = h.run(env .. " bpflua " .. script .. " > " .. script .. ".out 2>&1 & pid=$!\n" ..
      "for i in $(seq 1 600); do grep -q false " .. script .. ".out && break; sleep 0.05; done\n" ..
      "kill -TERM $pid; wait $pid; ls " .. tmp)
    assert.matches("bpflua%-" .. uid .. "%.%d+%.", listing)
    local _, err2, status2 = host(env, "local BPF = require('bpflua'); print(pcall(BPF.new, {text = 'int x = ;'}))")
    assert.are.equal(0, status2, err2)
    assert.are.equal("bpflua-" .. uid .. "\n", (h.run("ls " .. tmp)))
    os.remove(script)
    os.remove(script .. ".out")
    os.execute("rm -rf " .. untrusted)
  end)
end)
