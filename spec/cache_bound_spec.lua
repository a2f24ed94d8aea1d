-- The object cache's size bound (BPFLUA_CACHE_MAX): real compiles fill a temporary cache
-- past a small bound; the least recently used entries go, a hit keeps its entry, the running
-- kernel's prelude stays, two processes storing at once leave only whole entries and a right
-- total; other kernels' files go once the new kernel's prelude is built; --cache-stats and
-- --cache-clear.
local h = require("spec.helpers")

-- Runs the host with the cache in dir (and env, a string of assignments).
local function bpflua(dir, env, args)
  return h.run("BPFLUA_CACHE_DIR=" .. dir .. " " .. (env or "") .. " timeout 120 bpflua " .. args)
end

-- Compiles src in a fresh host; returns true on a cache hit.
local function compile(dir, env, src)
  local path = os.tmpname()
  h.write_file(path, "local BPF = require('bpflua'); local b = BPF{text = " ..
    string.format("%q", src) .. "}; print(b.cache_hit)")
  local out, err, status = bpflua(dir, env, path)
  os.remove(path)
  assert.are.equal(0, status, err)
  return out == "true\n", err
end

local function entries(dir)
  local set = {}
  for name in h.run("ls " .. dir):gmatch("[^\n]+") do
    if name:match("^object%-.*%.entry$") then
      set[name] = true
    end
  end
  return set
end

-- Compiles a new program; returns its source and its entry's name.
local function new_entry(dir, env)
  local src = h.counting_probe_source(h.unique())
  local before = entries(dir)
  assert.is_false((compile(dir, env, src)))
  local added
  for name in pairs(entries(dir)) do
    if not before[name] then
      added = name
    end
  end
  assert.is_not_nil(added, "no entry was stored")
  return src, added
end

-- What bpflua --cache-stats says, in bytes.
local function stats(dir, env)
  local out, err, status = bpflua(dir, env, "--cache-stats")
  assert.are.equal(0, status, err)
  return tonumber(out:match("%((%d+) bytes")), out
end

-- The size on disk that the bound counts, as du would add it up.
local function disk_bytes(dir)
  local out = h.run("cd " .. dir .. " && find . -maxdepth 1 -type f \\( -name 'object-*' -o -name 'prelude-*' \\)" ..
    " -printf '%b\\n'; find . -mindepth 2 -maxdepth 2 -path './kernel-*/vmlinux.h' -printf '%b\\n'")
  local blocks = 0
  for n in out:gmatch("%d+") do
    blocks = blocks + tonumber(n)
  end
  return blocks * 512
end

local function exists(path)
  return os.execute("test -e " .. path) == 0 or os.execute("test -e " .. path) == true
end

describe("the object cache's bound", function()
  local dir

  before_each(function()
    assert(h.require_bpf())
    dir = h.private_cache_dir()
    -- The running kernel's prelude, in the foreground: the bound is then about objects.
    local _, err, status = bpflua(dir, "", "--prepare")
    assert.are.equal(0, status, err)
  end)

  after_each(function()
    h.wait_for_prelude(dir)
    os.execute("rm -rf " .. dir)
  end)

  it("removes the least recently used entries; a hit keeps its entry, the prelude stays", function()
    local pch = h.run("ls " .. dir .. "/prelude-*.pch"):gsub("\n$", "")
    local _, entry = new_entry(dir, "")
    local entry_bytes = tonumber((h.run("stat -c %b " .. dir .. "/" .. entry))) * 512
    -- Room for the prelude, what --prepare stored and six entries of this size.
    local base = stats(dir, "")
    local max = base + 6 * entry_bytes + math.floor(entry_bytes / 2)
    local env = "BPFLUA_CACHE_MAX=" .. max
    -- Four entries, last used 10, 9, 8 and 7 hours ago (the first one above is 1).
    local srcs, names = {}, {}
    for i = 1, 4 do
      srcs[i], names[i] = new_entry(dir, env)
      os.execute("touch -d '" .. (11 - i) .. " hours ago' " .. dir .. "/" .. names[i])
    end
    os.execute("touch -d '12 hours ago' " .. dir .. "/" .. entry)
    -- A hit on the oldest makes it the most recently used.
    assert.is_true((compile(dir, env, srcs[1])))
    -- Four more: the cache passes the bound, and what was used longest ago goes.
    for i = 5, 8 do
      srcs[i], names[i] = new_entry(dir, env)
      assert.is_true(stats(dir, env) <= max)
    end
    local left = entries(dir)
    assert.is_nil(left[entry], "the entry used 12 hours ago is still there")
    assert.is_nil(left[names[2]], "the entry used 9 hours ago is still there")
    assert.is_true(left[names[1]], "the entry hit a moment ago went")
    assert.is_true(left[names[8]], "the entry just stored went")
    assert.is_true(exists(pch))
    assert.is_true(exists(pch:gsub("%.pch$", ".h")))
    assert.are.equal(1, select(2, h.run("ls " .. dir .. "/kernel-*/vmlinux.h"):gsub("\n", "")))
    -- What is left is still right: a hit, and a miss compiles against the prelude.
    assert.is_true((compile(dir, env, srcs[8])))
    assert.is_true((compile(dir, env, srcs[1])))
  end)

  it("keeps the running kernel's prelude and the new entry when the bound is below them", function()
    local pch = h.run("ls " .. dir .. "/prelude-*.pch"):gsub("\n$", "")
    local _, first = new_entry(dir, "BPFLUA_CACHE_MAX=1K")
    local src, second = new_entry(dir, "BPFLUA_CACHE_MAX=1K")
    local left = entries(dir)
    assert.is_nil(left[first])
    assert.is_true(left[second])
    assert.is_true(exists(pch))
    assert.is_true((compile(dir, "BPFLUA_CACHE_MAX=1K", src)))
  end)

  it("is unbounded with BPFLUA_CACHE_MAX=0, and warns about a value that is not a size", function()
    local _, first = new_entry(dir, "BPFLUA_CACHE_MAX=0")
    local _, second = new_entry(dir, "BPFLUA_CACHE_MAX=0")
    local left = entries(dir)
    assert.is_true(left[first] and left[second])
    local _, out = stats(dir, "BPFLUA_CACHE_MAX=0")
    assert.matches("unbounded (BPFLUA_CACHE_MAX=0)", out, 1, true)
    local _, err = bpflua(dir, "BPFLUA_CACHE_MAX=lots", "--cache-stats")
    assert.matches("warning: BPFLUA_CACHE_MAX=lots is not a size", err, 1, true)
    _, out = stats(dir, "BPFLUA_CACHE_MAX=lots")
    assert.matches("of 256.0 MiB (268435456 bytes", out, 1, true)
    _, out = stats(dir, "BPFLUA_CACHE_MAX=512MiB")
    assert.matches("of 512.0 MiB (536870912 bytes", out, 1, true)
  end)

  it("stays whole and counted right when two processes store at once", function()
    local _, entry = new_entry(dir, "")
    local entry_bytes = tonumber((h.run("stat -c %b " .. dir .. "/" .. entry))) * 512
    local max = stats(dir, "") + 8 * entry_bytes
    -- Two hosts, each compiling twelve programs of its own and the same four, one after
    -- another: their stores, and the recounts past the bound, overlap.
    local shared = {}
    for i = 1, 4 do
      shared[i] = h.counting_probe_source(h.unique())
    end
    local scripts = {}
    for p = 1, 2 do
      local code = {"local BPF = require('bpflua')"}
      for i = 1, 12 do
        code[#code + 1] = "BPF{text = " .. string.format("%q", h.counting_probe_source(h.unique())) .. "}:cleanup()"
        if i % 3 == 0 then
          code[#code + 1] = "BPF{text = " .. string.format("%q", shared[i / 3]) .. "}:cleanup()"
        end
      end
      code[#code + 1] = "print('done')"
      scripts[p] = os.tmpname()
      h.write_file(scripts[p], table.concat(code, "\n"))
    end
    local out, err, status = h.run(string.format(
      "export BPFLUA_CACHE_DIR=%s BPFLUA_CACHE_MAX=%d; timeout 300 bpflua %s & a=$!; " ..
      "timeout 300 bpflua %s & b=$!; wait $a; echo \"a=$?\"; wait $b; echo \"b=$?\"",
      dir, max, scripts[1], scripts[2]))
    os.remove(scripts[1])
    os.remove(scripts[2])
    assert.are.equal(0, status, err)
    assert.matches("a=0", out, 1, true)
    assert.matches("b=0", out, 1, true)
    -- Every entry left is whole: its checksum line is the sha256 of what comes before it.
    local left = 0
    for name in pairs(entries(dir)) do
      local path = dir .. "/" .. name
      local check = h.run(string.format(
        "size=$(stat -c %%s %s); sum=$(head -c $((size - 72)) %s | sha256sum | cut -d' ' -f1); " ..
        "tail -c 72 %s | grep -qx \"sha256 $sum\" && echo whole", path, path, path))
      assert.are.equal("whole\n", check, name)
      left = left + 1
    end
    assert.is_true(left > 0)
    assert.are.equal("", (h.run("ls " .. dir .. " | grep '\\.tmp\\.' || true")))
    -- The running total errs high, never low (a store that a recount missed recounts), and
    -- one more store brings the cache under the bound.
    new_entry(dir, "BPFLUA_CACHE_MAX=" .. max)
    local total = tonumber((h.run("cut -d' ' -f1 " .. dir .. "/cache-size")))
    local counted = stats(dir, "BPFLUA_CACHE_MAX=" .. max)
    assert.are.equal(disk_bytes(dir), counted)
    assert.is_true(counted <= max, counted .. " > " .. max)
    assert.is_true(total >= counted and total <= max, total .. " against " .. counted)
    -- The shared programs still hit or compile cleanly.
    for i = 1, 4 do
      compile(dir, "BPFLUA_CACHE_MAX=" .. max, shared[i])
    end
  end)
end)

describe("the cache's kernels", function()
  it("go with their preludes once the new kernel's prelude is built, unless used since boot", function()
    assert(h.require_bpf())
    local dir = h.private_cache_dir()
    -- An old kernel's files, last used before this boot, with the prelude built on it; and
    -- another kernel's used a moment ago (another bpflua on this kernel, say).
    local old, recent = dir .. "/kernel-0000000000000001", dir .. "/kernel-0000000000000002"
    os.execute("mkdir -m 700 " .. old .. " " .. recent)
    for _, k in ipairs({old, recent}) do
      h.write_file(k .. "/vmlinux.h", "struct x;\n")
    end
    local key = "00000000000000000000000000000001"
    h.write_file(dir .. "/prelude-" .. key .. ".pch", "not a PCH")
    h.write_file(dir .. "/prelude-" .. key .. ".h", "#include <bpflua/prelude.h>\n")
    h.write_file(old .. "/built-prelude-" .. key, "")
    local boot = tonumber((h.run("awk '/^btime/ {print $2}' /proc/stat")))
    os.execute(string.format("touch -d @%d %s/vmlinux.h %s/prelude-%s.pch", boot - 3600, old, dir, key))
    local _, err, status = bpflua(dir, "", "--prepare")
    assert.are.equal(0, status, err)
    assert.is_false(exists(old))
    assert.is_false(exists(dir .. "/prelude-" .. key .. ".pch"))
    assert.is_false(exists(dir .. "/prelude-" .. key .. ".h"))
    assert.is_true(exists(recent .. "/vmlinux.h"))
    -- The running kernel's are there, its prelude named in its directory.
    assert.are.equal(1, select(2, h.run("ls " .. dir .. "/kernel-*/built-prelude-*"):gsub("\n", "")))
    os.execute("rm -rf " .. dir)
  end)
end)

describe("bpflua --cache-stats and --cache-clear", function()
  it("count what the cache holds, and empty it", function()
    assert(h.require_bpf())
    local dir = h.private_cache_dir()
    local _, err, status = bpflua(dir, "", "--prepare")
    assert.are.equal(0, status, err)
    new_entry(dir, "")
    local bytes, out = stats(dir, "")
    assert.are.equal(disk_bytes(dir), bytes)
    assert.matches("cache directory  " .. dir .. "\n", out, 1, true)
    assert.matches("\nobjects          2, ", out, 1, true) -- --prepare's and the new one
    assert.matches("\npreludes %(PCH%)   1, %d+%.%d MiB\n", out)
    assert.matches("\nkernels          1, ", out, 1, true)
    out, err, status = bpflua(dir, "", "--cache-clear")
    assert.are.equal(0, status, err)
    assert.are.equal("bpflua: cleared the compile cache in " .. dir .. "\n", out)
    assert.are.equal("", (h.run("ls " .. dir .. " | grep -E '^(object|prelude|kernel)-' || true")))
    bytes = stats(dir, "")
    assert.are.equal(0, bytes)
    os.execute("rm -rf " .. dir)
  end)
end)
