-- bpflua as a library: a stock luajit tracing with the installed modules, a BPF object driven
-- from a plain poll(2) loop, and several objects created and collected in one Lua state.
local ffi = require("ffi")
local h = require("spec.helpers")

-- poll(2) declared as a program that embeds bpflua would, after require("bpflua"): bpflua's
-- own declarations must leave the name free. (pcall: busted loads this file again, and the
-- struct cannot be defined twice.)
require("bpflua")
pcall(ffi.cdef, [[
struct spec_pollfd { int fd; short events; short revents; };
int poll(struct spec_pollfd *fds, unsigned long nfds, int timeout);
]])
local poll = ffi.C.poll
local POLLIN = 1

describe("a stock luajit", function()
  it("traces with require('bpflua') from the installed files", function()
    assert(h.require_bpf())
    local script = os.tmpname() .. ".lua"
    h.write_file(script, [[
      local BPF = require("bpflua")
      local config = require("bpflua.config")
      local ffi = require("ffi")
      ffi.cdef("int getpid(void); int getpriority(int, int);")
      print("module " .. package.searchpath("bpflua", package.path))
      print("lua_dir " .. config.lua_dir)
      print("interpreter " .. tostring(arg[-1]))
      local b = BPF{text = [=[
        struct ev { u32 who; };
        BPF_RINGBUF_OUTPUT(events, 8);
        BPF_ARRAY(counts, u64, 1);
        TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
          if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
          struct ev e = {};
          e.who = args->who;
          events.ringbuf_output(&e, sizeof(e), 0);
          counts.increment(0);
          return 0;
        }
      ]=], cflags = {"-DPID=" .. ffi.C.getpid()}}
      local seen = {}
      b["events"]:open_ring_buffer(function(_, data)
        seen[#seen + 1] = b["events"]:event(data).who
      end)
      for i = 1, 3 do ffi.C.getpriority(0, 900 + i) end
      b:ring_buffer_poll(1000)
      print("events " .. table.concat(seen, ","))
      print("count " .. b["counts"]:get(0))
    ]])
    local out, err, status = h.run("luajit " .. script)
    os.remove(script)
    assert.are.equal(0, status, err)
    local lua_dir = out:match("lua_dir (%S+)")
    assert.are.equal(lua_dir .. "/bpflua.lua", out:match("module (%S+)"))
    assert.are.equal("luajit", out:match("interpreter (%S+)"))
    assert.matches("events 901,902,903\n", out, 1, true)
    assert.matches("count 3\n", out, 1, true)
  end)
end)

describe("an external poll(2) loop", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local function ring_probe()
    return h.probe("BPF_RINGBUF_OUTPUT(events, 8);",
      "u32 who = args->who; events.ringbuf_output(&who, sizeof(who), 0);")
  end

  it("polls a BPF object's descriptor and consumes without blocking", function()
    local b = ring_probe()
    local got = {}
    local events = b["events"]
    events:open_ring_buffer(function(_, data) got[#got + 1] = events:event(data)[0] end)
    local fds = ffi.new("struct spec_pollfd[1]")
    fds[0].fd, fds[0].events = b:ring_buffer_fd(), POLLIN
    assert.are.equal(0, poll(fds, 1, 0))
    assert.are.equal(0, b:ring_buffer_consume())
    h.getpriority(5001)
    h.getpriority(5002)
    assert.are.equal(1, poll(fds, 1, 1000))
    assert.are.equal(POLLIN, bit.band(fds[0].revents, POLLIN))
    assert.are.equal(2, b:ring_buffer_consume())
    assert.are.same({5001, 5002}, got)
    -- Consumed: the descriptor is quiet again until the next event.
    assert.are.equal(0, poll(fds, 1, 0))
    h.getpriority(5003)
    assert.are.equal(1, poll(fds, 1, 1000))
    assert.are.equal(1, b:ring_buffer_consume())
    assert.are.same({5001, 5002, 5003}, got)
    b:cleanup()
    assert.has_error(function() b:ring_buffer_fd() end, "BPF object was cleaned up")
  end)

  it("serves several BPF objects from one loop", function()
    local objects, fds, got = {ring_probe(), ring_probe()}, ffi.new("struct spec_pollfd[2]"), {}
    for i, b in ipairs(objects) do
      got[i] = {}
      local events = b["events"]
      events:open_ring_buffer(function(_, data) table.insert(got[i], events:event(data)[0]) end)
      fds[i - 1].fd, fds[i - 1].events = b:ring_buffer_fd(), POLLIN
    end
    h.getpriority(6001)
    local total, rounds = 0, 0
    while total < 2 and rounds < 10 do
      rounds = rounds + 1
      assert.is_true(poll(fds, 2, 1000) >= 1)
      for i, b in ipairs(objects) do
        if bit.band(fds[i - 1].revents, POLLIN) ~= 0 then
          total = total + b:ring_buffer_consume()
        end
      end
    end
    assert.are.same({{6001}, {6001}}, got)
    for _, b in ipairs(objects) do
      b:cleanup()
    end
  end)
end)

describe("several BPF objects in one Lua state", function()
  it("are created and collected freely and leave nothing in the kernel", function()
    assert(h.require_bpf())
    local before = h.kernel_objects()
    local decls = "BPF_ARRAY(counts, u64, 1); BPF_RINGBUF_OUTPUT(events, 4);"
    local body = "if (args->who != 7070) return 0; u32 one = 1; counts.increment(0); " ..
      "events.ringbuf_output(&one, sizeof(one), 0);"
    local objects = {}
    for i = 1, 4 do
      objects[i] = h.probe(decls, body)
      objects[i]["events"]:open_ring_buffer(function() end)
    end
    h.getpriority(7070)
    for i = 1, 4 do
      assert.are.equal(1, objects[i]["counts"]:get(0))
    end
    -- Dropping two leaves the others working.
    objects[2], objects[4] = nil, nil
    collectgarbage()
    collectgarbage()
    h.getpriority(7070)
    assert.are.equal(2, objects[1]["counts"]:get(0))
    assert.are.equal(2, objects[3]["counts"]:get(0))
    assert.are.equal(2, objects[1]:ring_buffer_consume())
    objects = nil -- luacheck: ignore 311 (dropped for the collector)
    h.assert_kernel_objects(before)
  end)
end)
