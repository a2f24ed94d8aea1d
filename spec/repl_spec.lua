-- The REPL, driven in a real terminal (tmux): values, multi-line input, errors, completion,
-- history across runs, Ctrl-C at the prompt and in running code, Ctrl-D.
local ffi = require("ffi")
local h = require("spec.helpers")
local Terminal = require("spec.terminal")

pcall(ffi.cdef, "int bpf_prog_get_fd_by_id(uint32_t id); int close(int fd);")
local libbpf = ffi.load("bpf")

local start_repl = Terminal.start_repl

local function stop(term)
  if term then
    term:stop()
  end
end

-- The BPF programs a process holds, by id, from its descriptors.
local function prog_ids(pid)
  local ids = {}
  local fds = io.popen("ls /proc/" .. pid .. "/fdinfo")
  for fd in fds:lines() do
    local f = io.open("/proc/" .. pid .. "/fdinfo/" .. fd)
    if f then
      local id = f:read("*a"):match("prog_id:%s*(%d+)")
      f:close()
      if id then
        ids[#ids + 1] = tonumber(id)
      end
    end
  end
  fds:close()
  return ids
end

local function prog_exists(id)
  local fd = libbpf.bpf_prog_get_fd_by_id(id)
  if fd >= 0 then
    ffi.C.close(fd)
    return true
  end
  return false
end

describe("the REPL", function()
  local term
  before_each(function()
    term = start_repl()
  end)
  after_each(function()
    stop(term)
    term = nil
  end)

  it("prints the values of expressions and nothing for statements", function()
    term:send("20 + 22")
    term:expect("^42$")
    term:send("y = 5")
    term:expect("^> y = 5$")
    assert.are.equal(">", term:next_line()) -- no output before the next prompt
    term:send("y * 2, 'text', nil, true")
    term:expect("^10%s+text%s+nil%s+true$")
    term:send("{3, 2, z = {y = 1}, a = 's', [10] = false}")
    term:expect('^{3, 2, %[10%] = false, a = "s", z = {y = 1}}$')
    term:send("{{{{{{}}}}}}")
    term:expect("^{{{{{%.%.%.}}}}}$")
    term:send("ffi.new('uint64_t', 2^62), -2LL, 2^53")
    term:expect("^4611686018427387904%s+%-2%s+9007199254740992$")
    term:send("ffi.new('char[8]', 'abc'), ffi.new('int[3]', {1, 2, 3})")
    term:expect('^"abc"%s+{1, 2, 3}$')
  end)

  it("continues incomplete input on a >> prompt", function()
    term:send("function twice(a)")
    term:expect("^>>$")
    term:send("  return a * 2")
    term:send("end")
    term:send("twice(21)")
    term:expect("^42$")
    term:send("s = [[one")
    term:send("two]]")
    term:send("#s")
    term:expect("^7$")
  end)

  it("prints errors and goes on", function()
    term:send("error('boom')")
    term:expect("^stdin:1: boom$")
    term:send("nil + 1")
    term:expect("attempt to perform arithmetic on a nil value")
    term:send("x = = 1")
    term:expect("^stdin:1: unexpected symbol near '='$")
    term:send("error({code = 7})")
    term:expect("^%(error object is a table value: {code = 7}%)$")
    term:send("'still here'")
    term:expect("^still here$")
  end)

  it("completes globals and fields with Tab", function()
    term:type("strin")
    term:press("Tab")
    term:type(".for")
    term:press("Tab")
    term:expect_input("^> string%.format$")
    term:press("C-u")
    term:type("BP")
    term:press("Tab")
    term:type(".sle")
    term:press("Tab")
    term:expect_input("^> BPF%.sleep$")
  end)

  it("clears the line on Ctrl-C at the prompt", function()
    term:type("this is not lua")
    term:expect("^> this is not lua$")
    term:press("C-c")
    term:send("'fresh'")
    term:expect("^fresh$")
    assert.is_nil(term:screen():find("unexpected symbol", 1, true))
  end)

  it("offers help and the exploration commands", function()
    term:send("help()")
    term:expect("tracepoints%(\"sched:%*\"%)")
    term:send("tracepoints('sched:sched_swi*')")
    term:expect("^sched:sched_switch$")
    term:expect("^%(1 tracepoint%)$")
    term:send("fields('syscalls:sys_enter_openat')")
    term:expect("^offset  size  field$")
    term:expect("^%s+24%s+8%s+const char %* filename$")
    term:send("fields('nope:nothing')")
    term:expect("no tracepoint nope:nothing")
    term:send("maps(42)")
    term:expect("maps: expected a BPF object")
  end)
end)

describe("the REPL with a BPF object", function()
  local term
  setup(function()
    assert(h.require_bpf())
    term = start_repl()
    -- The probe counts this REPL's own getpriority() calls; Lua in the REPL makes them.
    term:send("ffi.cdef'int getpid(void); int getpriority(int, int);'")
    term:send("src = [[")
    term:send("struct ev { u32 who; char comm[16]; u64 big; };")
    term:send("BPF_RINGBUF_OUTPUT(events, 8);")
    term:send("BPF_HASH(last, u32, struct ev);")
    term:send("BPF_HISTOGRAM(dist);")
    term:send("TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {")
    term:send("  if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;")
    term:send("  struct ev e = {}; u32 k = 0;")
    term:send("  e.who = args->who; e.big = 1ULL << 62;")
    term:send("  bpf_get_current_comm(e.comm, sizeof(e.comm));")
    term:send("  events.ringbuf_output(&e, sizeof(e), 0);")
    term:send("  last.update(&k, &e);")
    term:send("  dist.increment(bpf_log2l(args->who));")
    term:send("  return 0;")
    term:send("}]]")
    term:send("b = BPF{text = src, cflags = {'-DPID=' .. ffi.C.getpid()}}")
    term:send("'loaded'")
    term:expect("^loaded$", 60)
  end)
  teardown(function()
    stop(term)
  end)

  it("shows the object, its tables, structs and histograms", function()
    term:send("for i = 1, 20 do ffi.C.getpriority(0, i) end")
    term:send("b")
    term:expect("^<BPF object from <text>: 1 attached, 3 tables>$")
    term:expect("^  dist%s+histogram, key int32_t, value uint64_t, 5 of 64 entries$")
    term:expect("^  events%s+ringbuf, 32768 bytes, events struct ev$")
    term:expect("^  last%s+hash, key uint32_t, value struct {uint32_t who; char comm%[16%]; uint64_t big}, 1 of 10240 entries$")
    term:send("b['last']:get(0)")
    term:expect('^{who = 20, comm = "bpflua", big = 4611686018427387904}$')
    term:send("b['dist']")
    term:expect("^<BPF table 'dist': histogram")
    term:expect("^%s+value%s+: count%s+distribution$")
    term:expect("^%s+16 %-> 31%s+: 5%s+|%*+%s*|$")
    term:send("maps(b)")
    term:expect("^events%s+ringbuf, 32768 bytes")
  end)

  it("completes table names and methods", function()
    term:type('b["ev')
    term:press("Tab")
    term:expect_input('^> b%["events"%]$')
    term:press("Enter")
    term:expect("^<BPF table 'events': ringbuf")
    term:type("b:attach_tr")
    term:press("Tab")
    term:expect_input("^> b:attach_tracepoint$")
    term:press("C-u")
    term:type("b:att")
    term:press("Tab", "Tab")
    term:expect("attach_perf_event")
    term:press("C-u")
    term:type("b['events']:open_r")
    term:press("Tab")
    term:expect_input("^> b%['events'%]:open_ring_buffer$")
    term:press("C-u")
  end)

  it("interrupts a running poll on Ctrl-C and keeps the probes attached", function()
    term:send("n = 0; b['events']:open_ring_buffer(function() n = n + 1 end)")
    term:send("print('polling') while true do b:ring_buffer_poll(50) end")
    term:expect("^polling$")
    term:press("C-c")
    term:expect("^interrupted$")
    term:send("b:num_attached()")
    term:expect("^1$")
    term:send("b:ring_buffer_consume(); n = 0; ffi.C.getpriority(0, 77); ffi.C.getpriority(0, 78)")
    term:send("b:ring_buffer_poll(1000) + b:ring_buffer_poll(0), n")
    term:expect("^2%s+2$")
  end)

  it("interrupts BPF.sleep", function()
    term:send("print('sleeping') BPF.sleep(60)")
    term:expect("^sleeping$")
    term:press("C-c")
    term:expect("^interrupted$")
    term:send("'awake'")
    term:expect("^awake$")
  end)

  it("exits on Ctrl-D with status 0 and detaches everything", function()
    local pid = tonumber((h.run("pgrep -P " .. term:pid() .. " -x bpflua")))
    local ids = prog_ids(pid)
    assert.is_true(#ids >= 1)
    for _, id in ipairs(ids) do
      assert.is_true(prog_exists(id))
    end
    term:press("C-d")
    term:expect("^%[bpflua exited with 0%]$")
    for _ = 1, 100 do
      local left = 0
      for _, id in ipairs(ids) do
        left = left + (prog_exists(id) and 1 or 0)
      end
      if left == 0 then
        return
      end
      os.execute("sleep 0.05")
    end
    error("the REPL's BPF programs outlived it")
  end)
end)

describe("the REPL's history", function()
  it("is kept in ~/.bpflua_history across runs", function()
    local home = h.tmpdir()
    local first = start_repl(home)
    first:send("history_marker = 4711")
    first:send("'typed'")
    first:expect("^typed$")
    first:press("C-d")
    first:expect("^%[bpflua exited with 0%]$")
    first:close()
    local f = assert(io.open(home .. "/.bpflua_history"))
    assert.matches("history_marker", f:read("*a"), 1, true)
    f:close()

    local second = start_repl(home)
    second:press("Up", "Up")
    second:expect("^> history_marker = 4711$")
    second:press("Enter")
    second:send("history_marker + 1")
    second:expect("^4712$")
    stop(second)
  end)
end)

describe("bpflua -i", function()
  it("runs the script, then the REPL with the script's globals", function()
    local script = os.tmpname() .. ".lua"
    h.write_file(script, "from_script = 'set by the script'\n")
    local term = start_repl(nil, "-i " .. script)
    term:send("from_script")
    term:expect("^set by the script$")
    stop(term)
    os.remove(script)
  end)
end)
