-- What a cached program loads before its first event: require("bpflua") leaves the modules
-- that a program attached at load and read through a ring buffer never uses (other tables,
-- attach_*, symbols, USDT, the trace pipe) to their first use, and a cache hit maps no
-- compiler into the process. The lazily loaded parts still work, and raise as before. The
-- host loads a module's bytecode (name.ljbc) in place of its source while it is current.
local BPF = require("bpflua")
local h = require("spec.helpers")

-- Modules that such a program must not load.
local unused = {
  "bpflua.table", "bpflua.batch", "bpflua.btf", "bpflua.histogram", "bpflua.json",
  "bpflua.perfbuf", "bpflua.stack_trace", "bpflua.more_tables", "bpflua.queue_stack",
  "bpflua.map_btf", "bpflua.map_of_maps", "bpflua.local_storage", "bpflua.prog_array",
  "bpflua.cgroup_array", "bpflua.attach", "bpflua.tracefs", "bpflua.fs", "bpflua.symbols",
  "bpflua.perf_maps", "bpflua.usdt", "bpflua.trace_pipe", "bpflua.pretty",
}

-- Runs Lua code in a fresh process (the bpflua host, or a stock luajit); its output.
local function fresh(interpreter, code)
  local path = os.tmpname()
  h.write_file(path, code)
  local out, err, status = h.run(interpreter .. " " .. path)
  os.remove(path)
  assert.are.equal(0, status, err)
  return out
end

-- Prints the names of the unused modules that are loaded, one per line.
local report_unused = string.format([[
  for _, name in ipairs(%s) do
    if package.loaded[name] then print(name) end
  end
]], "{" .. table.concat((function()
  local quoted = {}
  for i, name in ipairs(unused) do
    quoted[i] = string.format("%q", name)
  end
  return quoted
end)(), ", ") .. "}")

describe("loading bpflua", function()
  it("from a stock luajit loads none of the modules a ring buffer program does not use", function()
    assert.are.equal("", fresh("luajit", "require('bpflua')\n" .. report_unused))
  end)

  it("loads no compiler and none of those modules for a cached program, up to its first event", function()
    assert(h.require_bpf())
    local who = h.unique()
    local src = string.format([[
      BPF_RINGBUF_OUTPUT(events, 8);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != %d)
          return 0;
        u32 who = args->who;
        events.ringbuf_output(&who, sizeof(who), 0);
        return 0;
      }
    ]], who)
    BPF{text = src}:cleanup() -- compiled into the cache by this process
    local out = fresh("bpflua", string.format([[
      local ffi = require("ffi")
      ffi.cdef("int getpriority(int which, int who);")
      local BPF = require("bpflua")
      local b = BPF{text = %q}
      local seen = 0
      b["events"]:open_ring_buffer(function(_, data) seen = ffi.cast("uint32_t *", data)[0] end)
      ffi.C.getpriority(0, %d)
      while seen == 0 do b:ring_buffer_poll(1000) end
      print("hit " .. tostring(b.cache_hit) .. ", event " .. seen)
      local maps = io.open("/proc/self/maps"):read("*a")
      for _, library in ipairs({"libLLVM", "libclang", "libbpflua-clang"}) do
        if maps:find(library, 1, true) then print("mapped " .. library) end
      end
    ]], src, who) .. report_unused)
    assert.are.equal(string.format("hit true, event %d\n", who), out)
  end)

  it("names attach.lua's methods on BPF objects, every one of them", function()
    local methods = {}
    for name in pairs(require("bpflua.attach").methods) do
      methods[#methods + 1] = name
    end
    table.sort(methods)
    local object_methods = {}
    for name, method in pairs(getmetatable(BPF{text = "int unused;"}).__methods) do
      if name:find("^attach_") or name:find("^detach_") or name:find("^num_open_") then
        object_methods[#object_methods + 1] = name
        assert.is_function(method)
      end
    end
    table.sort(object_methods)
    assert.are.same(methods, object_methods)
  end)

  it("gives the lazily loaded functions and methods, with errors at the caller's line", function()
    assert(h.require_bpf())
    assert.are.equal(1, BPF.PerfType.SOFTWARE)
    assert.are.equal(0, BPF.PerfSWConfig.CPU_CLOCK)
    assert.are.equal(2, BPF.KPROBE)
    assert.is_true(BPF.tracepoint_exists("syscalls", "sys_enter_getpriority"))
    assert.is_string(BPF.get_syscall_fnname("getpriority"))
    assert.is_string(BPF.ksym(0))
    local b = BPF{text = "int on_getpriority(void *ctx) { return 0; }"}
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() b:attach_tracepoint{tp = "syscalls:no_such_event", fn_name = "x"} end)
    assert.is_false(ok)
    assert.matches("module_loading_spec.lua:" .. line .. ": ", err, 1, true)
    b:attach_tracepoint{tp = "syscalls:sys_enter_getpriority", fn_name = "on_getpriority"}
    assert.are.equal(1, b:num_open_tracepoints())
    b:cleanup()
  end)

  describe("in the host, from bytecode beside the source", function()
    local dir, source, bytecode

    before_each(function()
      dir = h.tmpdir()
      os.execute("mkdir -p " .. dir .. "/bpflua")
      source, bytecode = dir .. "/bpflua/probe_module.lua", dir .. "/bpflua/probe_module.ljbc"
      h.write_file(source, "return {'source'}\n")
      local from = dir .. "/other.lua"
      h.write_file(from, "local x = ...\nreturn {'bytecode', debug.getinfo(1, 'S').source, " ..
        "debug.getinfo(1, 'l').currentline}\n")
      assert(os.execute("luajit -b -g " .. from .. " " .. bytecode) == 0)
    end)

    after_each(function()
      os.execute("rm -rf " .. dir)
    end)

    local function load_module()
      local path = os.tmpname()
      h.write_file(path, "print(unpack(require('bpflua.probe_module')))")
      local out, err, status = h.run("BPFLUA_LUA_DIR=" .. dir .. " bpflua " .. path)
      os.remove(path)
      assert.are.equal(0, status, err)
      return out
    end

    it("loads it, named after the source, with its lines", function()
      assert.are.equal("bytecode\t@" .. source .. "\t2\n", load_module())
    end)

    it("loads the source when the source is newer", function()
      assert(os.execute("touch -d '+1 second' " .. source) == 0)
      assert.are.equal("source\n", load_module())
    end)

    it("loads the source when this LuaJIT cannot load the bytecode", function()
      local f = assert(io.open(bytecode, "r+b"))
      f:seek("set", 3)
      f:write("\127") -- another bytecode version
      f:close()
      assert.are.equal("source\n", load_module())
      h.write_file(bytecode, "\027LJ")
      assert.are.equal("source\n", load_module())
    end)
  end)
end)

