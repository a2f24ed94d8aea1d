-- The kernel-function paths of scripts/funccount.lua, stackcount.lua, funclatency.lua and
-- funcslower.lua: kprobes on functions named, matched by wildcard ('vfs_*') and by regular
-- expression (-r). The development kernel has no kprobes, so this runs in Debian's 6.1 kernel
-- under scripts/vmtest.sh; tagged #vm.
--
-- The workload is a LuaJIT process that opens /dev/zero, stops itself (SIGSTOP) so that its
-- pid is known before the tool starts, and once continued makes a known number of read()
-- calls (vfs_read) or 50 ms nanosleep() calls (hrtimer_nanosleep); the tools trace its pid only.
local h = require("spec.helpers")

local has_kprobes = io.open("/sys/kernel/tracing/kprobe_events") ~= nil or
  io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

local WORKLOAD = [[
local ffi = require("ffi")
ffi.cdef[[
struct workload_ts { long sec; long nsec; };
int raise(int sig);
int open(const char *path, int flags);
long read(int fd, void *buf, unsigned long n);
int nanosleep(const struct workload_ts *req, struct workload_ts *rem);
]=]
local mode, n = arg[1], tonumber(arg[2])
local fd = ffi.C.open("/dev/zero", 0)
local buf = ffi.new("char[16]")
local nap = ffi.new("struct workload_ts", 0, 50000000)
ffi.C.raise(19)  -- SIGSTOP: the spec continues it once the tool is tracing
for _ = 1, n do
  if mode == "read" then
    ffi.C.read(fd, buf, 16)
  else
    ffi.C.nanosleep(nap, nil)
  end
end
]]

describe("funccount, stackcount, funclatency, funcslower on kprobes #kernel #vm", function()
  local dir, workload
  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
    workload = dir .. "/workload.lua"
    h.write_file(workload, (WORKLOAD:gsub("%]=%]", "]]")))
  end)
  teardown(function()
    h.run("rm -rf " .. dir)
  end)

  local it = has_kprobes and it or function() end

  -- Starts the workload (mode, n) stopped, then tool (given the workload's pid as $wp) until
  -- its output shows ready; continues the workload and waits for its exit, then until the
  -- output has `rows` lines matching `row` (a grep pattern) when given; then Ctrl-C.
  -- Returns the tool's output, its exit status and the workload's pid.
  local function run(mode, n, tool, ready, row, rows)
    local out = dir .. "/out"
    local result = h.run(string.format([[
      luajit %s %s %d & wp=$!
      for i in $(seq 1 600); do grep -q '^State:.*stopped' /proc/$wp/status && break; sleep 0.05; done
      bpflua scripts/%s > %s 2>&1 & tp=$!
      for i in $(seq 1 3600); do grep -q %q %s && break; kill -0 $tp 2>/dev/null || break; sleep 0.05; done
      kill -CONT $wp; wait $wp
      for i in $(seq 1 600); do [ -z %q ] || [ $(grep -c %q %s) -ge %d ] && break; sleep 0.05; done
      kill -INT $tp; wait $tp; echo "status=$? wp=$wp"
    ]], workload, mode, n, tool, out, ready, out, row or "", row or "x", out, rows or 0))
    local f = io.open(out)
    local text = f:read("*a")
    f:close()
    return text, tonumber(result:match("status=(%d+)")), result:match("wp=(%d+)")
  end

  -- The FUNC COUNT rows of funccount's last report.
  local function counts(text)
    local rows = {}
    for name, n in text:gmatch("\n(%S+) +(%d+)") do
      rows[name] = tonumber(n)
    end
    return rows
  end

  it("funccount counts a kernel function, a 'vfs_*' wildcard and a -r regex", function()
    local text, status = run("read", 7, "funccount.lua -p $wp vfs_read", "Hit Ctrl-C")
    assert.are.equal(130, status, text)
    assert.matches('Tracing 1 functions for "vfs_read"... Hit Ctrl-C to end.', text, 1, true)
    assert.are.same({vfs_read = 7}, counts(text:match("FUNC +COUNT(.*)Detaching") or ""), text)

    local wild = run("read", 5, "funccount.lua -p $wp 'vfs_*'", "Hit Ctrl-C")
    local matched = tonumber(wild:match('Tracing (%d+) functions for "vfs_%*"'))
    assert.is_true(matched and matched > 5, wild)
    assert.are.equal(5, counts(wild).vfs_read, wild)
    assert.is_nil(counts(wild).vfs_write, wild)

    local re = run("read", 4, "funccount.lua -r -p $wp '^vfs_rea.$'", "Hit Ctrl-C")
    assert.matches('Tracing %d+ functions for "%^vfs_rea%.%$"', re)
    assert.are.equal(4, counts(re).vfs_read, re)
  end)

  it("stackcount counts vfs_read's kernel stacks, by pattern and by regex", function()
    local text, status = run("read", 6, "stackcount.lua -K -p $wp vfs_read", "Hit Ctrl-C")
    assert.are.equal(130, status, text)
    assert.matches('Tracing 1 functions for "vfs_read"... Hit Ctrl-C to end.', text, 1, true)
    -- one stack: vfs_read itself on top, the read syscall below it, seen 6 times
    local stack, count = text:match("\n(  vfs_read\n.-)    (%d+)\n")
    assert.is_truthy(stack, text)
    assert.are.equal("6", count, text)
    assert.matches("  ksys_read\n", stack, 1, true)
    assert.matches("Detaching...", text, 1, true)

    local re = run("read", 3, "stackcount.lua -K -r -p $wp '^vfs_rea.$'", "Hit Ctrl-C")
    assert.matches("\n  vfs_read\n.-    3\n", re)
  end)

  it("funclatency times a kernel function into the right log2 bucket", function()
    local text, status = run("sleep", 3, "funclatency.lua -u -p $wp hrtimer_nanosleep", "Hit Ctrl-C")
    assert.are.equal(130, status, text)
    assert.matches('Tracing 1 functions for "hrtimer_nanosleep"... Hit Ctrl-C to end.', text, 1, true)
    -- 50 ms naps, in microseconds: 32768 -> 65535 (a slow emulated guest may overshoot into
    -- the next bucket, never below)
    local low = tonumber(text:match("32768 %-> 65535 +: (%d+)")) or 0
    local high = tonumber(text:match("65536 %-> 131071 +: (%d+)")) or 0
    assert.are.equal(3, low + high, text)
    local avg, count = text:match("avg = (%d+) usecs, total: %d+ usecs, count: (%d+)")
    assert.are.equal("3", count, text)
    assert.is_true(tonumber(avg) >= 50000 and tonumber(avg) < 131072, text)
  end)

  it("funcslower prints each call slower than -m, with its latency, and none faster", function()
    local text, status = run("sleep", 3, "funcslower.lua -m 40 -p $wp hrtimer_nanosleep vfs_read",
      "Ctrl+C", "hrtimer_nanosleep", 3)
    assert.are.equal(130, status, text)
    assert.matches("Tracing function calls slower than 40 ms... Ctrl+C to quit.", text, 1, true)
    assert.matches("COMM           PID    LAT(ms)             RVAL FUNC", text, 1, true)
    local n = 0
    for pid, ms in text:gmatch("\nluajit +(%d+) +(%d+%.%d+) +%d+ hrtimer_nanosleep") do
      n = n + 1
      assert.is_true(tonumber(ms) >= 50 and tonumber(ms) < 1000, text)
      assert.is_truthy(pid)
    end
    assert.are.equal(3, n, text)
    assert.not_matches("vfs_read\n", text:match("RVAL FUNC\n(.*)$") or "", text)
  end)
end)
