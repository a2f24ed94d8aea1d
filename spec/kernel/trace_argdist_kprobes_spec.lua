-- scripts/trace.lua and scripts/argdist.lua on kernel functions (kprobes, kretprobes), with
-- the x86-64 syscall wrappers' arguments read through the user's saved registers. The
-- development kernel has no kprobes (spec/trace_argdist_spec.lua checks the tools' clear
-- error there), so this runs in Debian's 6.1 kernel under scripts/vmtest.sh; tagged #vm.
-- The workload calls getpriority(0, WHO) with a WHO of its own, three times.
local h = require("spec.helpers")

local has_kprobes = io.open("/sys/kernel/tracing/kprobe_events") ~= nil or
  io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

describe("trace and argdist on kprobes #kernel #vm", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local it = has_kprobes and it or function() end
  local who = 40000 + tonumber(h.unique()) % 20000
  local workload = string.format("luajit -e \"local ffi = require('ffi'); " ..
    "ffi.cdef('int getpriority(int, int);'); for i = 1, 3 do ffi.C.getpriority(0, %d) end\"", who)

  it("trace: a kprobe's declared arguments, a kretprobe's retval", function()
    local text, status = h.run_script(string.format(
      [[bpflua scripts/trace.lua 'p::__x64_sys_getpriority(int which, int who) (who == %d) "who=%%d", who' ]] ..
      [['r::__x64_sys_getpriority (retval == -3) "ret=%%d", retval']], who), "FUNC", workload)
    assert.are.equal(130, status, text)
    local entries, returns = 0, 0
    for line in text:gmatch("[^\n]+") do
      if line:find("^%d+ +%d+ +luajit +__x64_sys_getpriority +who=" .. who .. "$") then
        entries = entries + 1
      elseif line:find("^%d+ +%d+ +luajit +__x64_sys_getpriority +ret=%-3$") then
        returns = returns + 1
      end
    end
    assert.are.equal(3, entries, text)
    assert.are.equal(3, returns, text)
  end)

  it("argdist: counts of a kprobe's argument, a histogram of $entry() on its return", function()
    local text, status = h.run_script(string.format(
      "bpflua scripts/argdist.lua -c -C 'p::__x64_sys_getpriority(int which, int who):int:who:who==%d' " ..
      "-H 'r::__x64_sys_getpriority(int which, int who):int:$entry(who):$entry(who)==%d'", who, who),
      "]", workload)
    assert.are.equal(130, status, text)
    assert.matches("\tCOUNT      EVENT\n\t3          who = " .. who .. "\n", text, 1, true)
    assert.matches("     who                 : count     distribution\n", text, 1, true)
    assert.matches(": 3        |****************************************|", text, 1, true)
  end)
end)
