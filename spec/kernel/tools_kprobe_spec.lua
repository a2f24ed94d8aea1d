-- bcc's kprobe tools written for bpflua (cachestat, filelife), and capable and drsnoop where
-- only the VM can make what they trace, each run against a workload of this spec on an ext4
-- image of its own, its output checked against what the workload did. The development kernel has no kprobes
-- (spec/tools_system_spec.lua checks the tools' one-line error there), so this runs in
-- Debian's 6.1 kernel under scripts/vmtest.sh (which loads loop and ext4); tagged #vm.
local h = require("spec.helpers")
local runner = require("spec.tool_runner")

local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

local column_sum = runner.column_sum

describe("bcc's kprobe tools #kernel #vm", function()
  local dir, unmount
  setup(function()
    assert(h.require_kprobes())
    dir, unmount = runner.ext4_mount("kprobe-tools")
  end)
  teardown(function()
    if unmount then
      unmount()
    end
  end)

  local it = has_kprobes and it or function() end

  it("filelife: a file's age when it is deleted, with the deleting process", function()
    local name = "short-lived-" .. h.unique()
    local text, status, pid = runner.run("bpflua scripts/filelife.lua", "FILE",
      string.format("touch %s/%s; sleep 1; exec rm %s/%s", dir, name, dir, name))
    assert.are.equal(130, status, text)
    assert.matches("TIME     PID     COMM             AGE(s)  FILE\n", text, 1, true)
    local age = tonumber(text:match("\n%d%d:%d%d:%d%d " .. pid .. " +rm +([%d.]+) +" .. runner.escape(name) .. "\n"))
    assert.is_not_nil(age, text)
    assert.is_true(age >= 1 and age < 5, text)
  end)

  it("cachestat: misses when a file is read from disk, hits when it is read again", function()
    local file = dir .. "/cached"
    h.run("dd if=/dev/urandom of=" .. file .. " bs=1M count=4 2>/dev/null; sync")
    local text, status = runner.run("bpflua scripts/cachestat.lua -T", "CACHED_MB",
      "sync; echo 3 > /proc/sys/vm/drop_caches; cat " .. file .. " > /dev/null; sleep 1.5; cat " ..
      file .. " > /dev/null")
    assert.are.equal(130, status, text)
    assert.matches("TIME         HITS   MISSES  DIRTIES HITRATIO   BUFFERS_MB  CACHED_MB\n", text, 1, true)
    assert.matches("\nDetaching...\n", text, 1, true)
    -- 1024 pages of 4 KiB read from disk, then from the cache (and what else ran meanwhile)
    local rows = "^%d%d:%d%d:%d%d +%d+ +%d+ +%d+ +[%d.]+%% +%d+ +%d+$"
    assert.is_true(column_sum(text, rows, 3) >= 1024, text)
    assert.is_true(column_sum(text, rows, 2) >= 1024, text)
  end)

  it("drsnoop: a process that finds no free memory reclaims directly", function()
    -- In the VM only: the workload raises the free memory's floor (min_free_kbytes) to 8 MiB
    -- above what is free and faults in 32 MiB at once (MAP_POPULATE): every allocation below
    -- the floor reclaims page cache itself (LLVM's libraries, read first, are plenty, so
    -- nothing runs out). The floor goes back as soon as the memory is in.
    local min_free = io.open("/proc/sys/vm/min_free_kbytes"):read("*l")
    local script = os.tmpname()
    h.write_file(script, [[
import mmap
def free_kb():
    return next(int(l.split()[1]) for l in open('/proc/meminfo') if l.startswith('MemFree:'))
old = open('/proc/sys/vm/min_free_kbytes').read()
open('/proc/sys/vm/min_free_kbytes', 'w').write(str(free_kb() + 8192))
try:
    m = mmap.mmap(-1, 32 << 20, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | mmap.MAP_POPULATE)
finally:
    open('/proc/sys/vm/min_free_kbytes', 'w').write(old)
]])
    local text, status, pid = runner.run("bpflua scripts/drsnoop.lua -T -p $WPID", "PAGES",
      "cat /usr/lib/x86_64-linux-gnu/libLLVM* /usr/lib/x86_64-linux-gnu/libclang-cpp* > /dev/null; " ..
      "echo 1000 > /proc/self/oom_score_adj; exec python3 " .. script)
    h.run("echo " .. min_free .. " > /proc/sys/vm/min_free_kbytes")
    os.remove(script)
    assert.are.equal(130, status, text)
    assert.matches("TIME(s)       COMM           PID     LAT(ms) PAGES\n", text, 1, true)
    local _, reclaims = text:gsub("\n[%d.]+ +python3 +" .. pid .. " +[%d.]+ +%d+", "")
    assert.is_true(reclaims >= 1, text)
    -- -p: no one else's
    local others = text:gsub("\n[%d.]+ +python3 +" .. pid .. " [^\n]*", "")
    assert.not_matches("\n[%d.]+ +%S+ +%d+ +[%d.]+ +%d+\n", others)
  end)

  it("capable: the kprobe tells audited checks (AUDIT 1) and INSETID from the check's options", function()
    local text, status, pid = runner.run("bpflua scripts/capable.lua -x -v -p $WPID", "INSETID",
      "exec nice -n -5 true")
    assert.are.equal(130, status, text)
    -- can_nice() asks capable(CAP_SYS_NICE): audited, not a setid check
    assert.matches("\n%d%d:%d%d:%d%d +0 +" .. pid .. " +" .. pid .. " +nice +23 +CAP_SYS_NICE +1 +0\n", text)
    local events = 0
    for audit, insetid in text:gmatch("\n%d%d:%d%d:%d%d +0 +" .. pid .. " +%d+ +%S+ +%d+ +[%w_]+ +(%S+) +(%S+)") do
      assert.is_truthy((audit == "0" or audit == "1") and (insetid == "0" or insetid == "1"), text)
      events = events + 1
    end
    assert.is_true(events >= 1, text)
  end)
end)
