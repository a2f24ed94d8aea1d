-- Creating, configuring and releasing BPF objects: src_file paths, debug output, cleanup and
-- garbage collection.
local BPF = require("bpflua")
local h = require("spec.helpers")

local counter_c = [[
BPF_ARRAY(counts, u64, 1);
TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
  if (args->who != WHO) return 0;
  counts.increment(0);
  return 0;
}
]]

describe("a BPF object", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("reads src_file relative to the script that names it", function()
    local dir = h.tmpdir()
    os.execute("mkdir -p " .. dir .. "/sub")
    h.write_file(dir .. "/sub/counter.c", counter_c)
    h.write_file(dir .. "/sub/run.lua", [[
      local BPF = require("bpflua")
      local ffi = require("ffi")
      ffi.cdef("int getpriority(int, int);")
      local b = BPF{src_file = "counter.c", cflags = {"-DWHO=4711"}}
      ffi.C.getpriority(0, 4711)
      print(b["counts"]:get(0))
    ]])
    -- Run from elsewhere: the path is relative to the script, not to the working directory.
    local out, err, status = h.run("cd / && bpflua " .. dir .. "/sub/run.lua")
    assert.are.equal(0, status, err)
    assert.are.equal("1\n", out)
    os.execute("rm -rf " .. dir)
  end)

  it("prints the C handed to Clang when debug is set", function()
    local code = "local BPF = require('bpflua'); BPF{text = " ..
      string.format("%q", counter_c) .. ", cflags = {'-DWHO=" .. h.unique() .. "'}, debug = true}"
    local path = os.tmpname()
    h.write_file(path, code)
    local _, err, status = h.run("bpflua " .. path)
    os.remove(path)
    assert.are.equal(0, status, err)
    assert.matches("the C handed to Clang", err, 1, true)
    assert.matches("#define counts$increment(...) bpflua_map_increment(counts, ##__VA_ARGS__)", err, 1, true)
    assert.matches("counts$increment(0);", err, 1, true)
    assert.matches("struct tracepoint__syscalls__sys_enter_getpriority {", err, 1, true)
    assert.matches("verifier log of 'tracepoint__syscalls__sys_enter_getpriority'", err, 1, true)
  end)

  it("detaches and unloads on cleanup, and stops counting", function()
    local before = h.kernel_objects()
    local who = 40000 + math.random(1000)
    local b = BPF{text = counter_c, cflags = {"-DWHO=" .. who}}
    assert.are.equal(1, b:num_attached())
    h.getpriority(who)
    local counts = b["counts"]
    assert.are.equal(1, counts:get(0))
    b:cleanup()
    b:cleanup() -- twice is fine
    h.assert_kernel_objects(before)
    assert.has_error(function() counts:get(0) end)
  end)

  it("is released by the garbage collector", function()
    local before = h.kernel_objects()
    do
      local b = BPF{text = counter_c .. "BPF_RINGBUF_OUTPUT(events, 4);\n", cflags = {"-DWHO=1"}}
      assert.are.equal(1, b:num_attached())
      -- An open ring is mapped into this process and watched by an epoll descriptor.
      b["events"]:open_ring_buffer(function() end)
    end
    collectgarbage()
    collectgarbage()
    h.assert_kernel_objects(before)
  end)

  it("lets several objects live side by side", function()
    local who = 30000 + math.random(1000)
    local a = BPF{text = counter_c, cflags = {"-DWHO=" .. who}}
    local b = BPF{text = counter_c, cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    assert.are.equal(1, a["counts"]:get(0))
    assert.are.equal(1, b["counts"]:get(0))
    a:cleanup()
    h.getpriority(who)
    assert.are.equal(2, b["counts"]:get(0))
    b:cleanup()
  end)
end)
