-- bcc's capable, tcpaccept, biotop, drsnoop, llcstat, vfsstat, filetop, fileslower, ext4dist
-- and ext4slower, written for bpflua, each run as a user runs it against a workload this spec makes, its output checked
-- against what the workload did. They need no kprobes (capable falls back to its tracepoint,
-- the file tools to the syscalls that call vfs_read and friends), so they run natively and in
-- the 6.1 VM (#kernel), where they use kprobes or fentry as bcc does (capable's audit flag and
-- drsnoop's real direct reclaim are checked in spec/kernel/tools_kprobe_spec.lua).
local h = require("spec.helpers")
local runner = require("spec.tool_runner")

local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

local column_sum = runner.column_sum

-- The total count of a log2 histogram's section "operation = name".
local function section_count(text, name)
  local section = text:match("\noperation = " .. name .. "\n(.-)\n\n") or
    text:match("\noperation = " .. name .. "\n(.*)") or ""
  local total = 0
  for n in section:gmatch("%d+ %-> %d+%s+: (%d+)") do
    total = total + tonumber(n)
  end
  return total
end

describe("bcc's system tools #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  describe("capable.lua", function()
    it("prints a process's capability check with its name, and -p leaves out others", function()
      -- nice -n -5 asks for CAP_SYS_NICE (can_nice), an audited check
      local text, status, pid = runner.run("bpflua scripts/capable.lua -x -p $WPID", "INSETID",
        "exec nice -n -5 true")
      assert.are.equal(130, status, text)
      assert.matches("TIME      UID    PID    TID    COMM             CAP  NAME                 AUDIT  INSETID\n",
        text, 1, true)
      -- the kprobe knows the check is audited; the tracepoint does not (N/A)
      local audit = has_kprobes and "1" or "N/A"
      assert.matches("\n%d%d:%d%d:%d%d +0 +" .. pid .. " +" .. pid .. " +nice +23 +CAP_SYS_NICE +" ..
        audit .. " +%S+\n", text)
      for line_pid in text:gmatch("\n%d%d:%d%d:%d%d +%d+ +(%d+)") do
        assert.are.equal(pid, tonumber(line_pid), text)
      end
    end)
  end)

  describe("tcpaccept.lua", function()
    it("prints each accepted IPv4 and IPv6 connection with its ends; -P and -4 filter", function()
      if runner.in_vm then
        h.run("ip link set lo up") -- the VM's init brings up no interface
      end
      local base = 30000 + tonumber(h.unique()) % 20000
      local server = string.format([[exec python3 -c "
import socket
for fam, host, port in ((socket.AF_INET, '127.0.0.1', %d), (socket.AF_INET6, '::1', %d),
                        (socket.AF_INET, '127.0.0.1', %d)):
    s = socket.socket(fam); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port)); s.listen()
    c = socket.create_connection((host, port)); a, _ = s.accept()
    print(port, c.getsockname()[1], flush=True)
    a.close(); c.close(); s.close()"]], base, base + 1, base + 2)
      local text, status, pid = runner.run(string.format("bpflua scripts/tcpaccept.lua -T -P %d,%d -p $WPID",
        base, base + 1), "LPORT", server .. " > /tmp/tcpaccept-spec-" .. base)
      local ports = io.open("/tmp/tcpaccept-spec-" .. base):read("*a")
      os.remove("/tmp/tcpaccept-spec-" .. base)
      assert.are.equal(130, status, text)
      assert.matches("TIME     PID     COMM         IP RADDR            RPORT LADDR            LPORT\n", text, 1, true)
      local client4 = ports:match("^" .. base .. " (%d+)")
      local client6 = ports:match("\n" .. base + 1 .. " (%d+)")
      assert.matches("\n%d%d:%d%d:%d%d " .. pid .. " +python3 +4  127%.0%.0%.1 +" .. client4 ..
        " +127%.0%.0%.1 +" .. base .. "\n", text)
      assert.matches("\n%d%d:%d%d:%d%d " .. pid .. " +python3 +6  ::1 +" .. client6 .. " +::1 +" ..
        (base + 1) .. "\n", text)
      assert.not_matches(" " .. (base + 2) .. "\n", text, 1, true) -- not in -P's list
      local v4 = runner.run(string.format("bpflua scripts/tcpaccept.lua -4 -P %d,%d -p $WPID", base, base + 1),
        "LPORT", server .. " > /dev/null")
      assert.matches(" " .. base .. "\n", v4, 1, true)
      assert.not_matches(" " .. (base + 1) .. "\n", v4, 1, true)
    end)
  end)

  describe("biotop.lua", function()
    local dir, unmount
    setup(function()
      dir, unmount = runner.ext4_mount("biotop")
      h.run("dd if=/dev/urandom of=" .. dir .. "/data bs=1M count=1 2>/dev/null; sync")
    end)
    teardown(function()
      unmount()
    end)

    it("sums a process's direct reads per disk: 40 of 16 KiB by dd", function()
      local text, status, pid = runner.run("bpflua scripts/biotop.lua -C 30", "Hit Ctrl-C",
        "exec dd if=" .. dir .. "/data of=/dev/null bs=16k count=40 iflag=direct 2>/dev/null")
      assert.are.equal(130, status, text)
      assert.matches("Tracing... Output every 30 secs. Hit Ctrl-C to end\n", text, 1, true)
      assert.matches("\n%d%d:%d%d:%d%d loadavg: [%d. /]+\n\n", text)
      assert.matches("PID     COMM             D MAJ MIN DISK       I/O  Kbytes  AVGms\n", text, 1, true)
      assert.matches("\nDetaching...\n", text, 1, true)
      -- the block layer may merge adjacent reads: count bytes, not requests
      local kbytes, ios = 0, 0
      for io_count, kb in text:gmatch("\n" .. pid .. " +dd +R +7 +%d+ +loop%d+ +(%d+) +([%d.]+) +[%d.]+") do
        ios, kbytes = ios + tonumber(io_count), kbytes + tonumber(kb)
      end
      assert.are.equal(640, kbytes, text)
      assert.is_true(ios >= 1 and ios <= 40, text)
    end)

    it("reports every interval, count times, then ends by itself", function()
      local out, _, status = h.run("timeout 60 bpflua scripts/biotop.lua -C -r 1 1 2")
      assert.are.equal(0, status, out)
      local _, screens = out:gsub("loadavg: ", "")
      assert.are.equal(2, screens, out)
      assert.matches("Detaching...\n$", out)
    end)
  end)

  describe("vfsstat, filetop, fileslower, ext4dist and ext4slower", function()
    local dir, unmount
    setup(function()
      dir, unmount = runner.ext4_mount("file-tools")
      h.run("dd if=/dev/urandom of=" .. dir .. "/input bs=4k count=100 2>/dev/null; sync")
    end)
    teardown(function()
      unmount()
    end)

    -- 100 reads of 4 KiB from an ext4 file, 100 writes of 4 KiB to another, one fsync
    local function copy(to)
      return string.format("exec dd if=%s/input of=%s/%s bs=4k count=100 conv=fsync 2>/dev/null", dir, dir, to)
    end

    it("vfsstat: counts one process's reads, writes and fsyncs", function()
      local text, status = runner.run("bpflua scripts/vfsstat.lua -p $WPID", "CREATE/s", copy("vfsstat"))
      assert.are.equal(130, status, text)
      assert.matches("TIME         READ/s  WRITE/s  FSYNC/s   OPEN/s CREATE/s\n", text, 1, true)
      -- dd's own 100 reads and writes, and those of the dynamic loader and locale setup
      local reads = column_sum(text, "^%d%d:%d%d:%d%d:", 2)
      local writes = column_sum(text, "^%d%d:%d%d:%d%d:", 3)
      assert.is_true(reads >= 100 and reads <= 110, text)
      assert.is_true(writes >= 100 and writes <= 105, text)
      assert.are.equal(1, column_sum(text, "^%d%d:%d%d:%d%d:", 4), text)
      assert.is_true(column_sum(text, "^%d%d:%d%d:%d%d:", 5) >= 2, text)
    end)

    it("filetop: one process's reads and writes by file", function()
      local text, status, pid = runner.run("bpflua scripts/filetop.lua -C -p $WPID 60", "Hit Ctrl-C",
        copy("filetop"))
      assert.are.equal(130, status, text)
      assert.matches("TID     COMM             READS  WRITES R_Kb    W_Kb    T FILE\n", text, 1, true)
      assert.matches("\n" .. pid .. " +dd +100 +0 +400 +0 +R input\n", text)
      assert.matches("\n" .. pid .. " +dd +0 +100 +0 +400 +R filetop\n", text)
      assert.matches("\nDetaching...\n", text, 1, true)
    end)

    it("fileslower: every synchronous read and write of a process with min_ms 0; -a adds other files", function()
      local text, status, pid = runner.run("bpflua scripts/fileslower.lua -p $WPID 0", "FILENAME",
        copy("fileslower"))
      assert.are.equal(130, status, text)
      assert.matches("Tracing sync read/writes slower than 0 ms\n" ..
        "TIME(s)  COMM           TID    D BYTES   LAT(ms) FILENAME\n", text, 1, true)
      local _, reads = text:gsub("\n[%d.]+ +dd +" .. pid .. " +R 4096 +[%d.]+ input", "")
      local _, writes = text:gsub("\n[%d.]+ +dd +" .. pid .. " +W 4096 +[%d.]+ fileslower", "")
      assert.are.equal(100, reads, text)
      assert.are.equal(100, writes, text)
      local all = runner.run("bpflua scripts/fileslower.lua -a -p $WPID 0", "FILENAME",
        "exec dd if=" .. dir .. "/input of=/dev/null bs=4k count=10 2>/dev/null")
      local _, nulls = all:gsub(" W 4096 +[%d.]+ null\n", "")
      assert.are.equal(10, nulls, all)
    end)
    it("ext4dist: one process's ext4 reads, writes, opens and fsyncs as histograms", function()
      local text, status = runner.run("bpflua scripts/ext4dist.lua -p $WPID", "Hit Ctrl-C", copy("ext4dist"))
      assert.are.equal(130, status, text)
      assert.matches("Tracing ext4 operation latency... Hit Ctrl-C to end.\n", text, 1, true)
      assert.matches("\noperation = read\n     usecs               : count     distribution\n", text, 1, true)
      -- natively the dynamic loader's reads of libc count too: the root is ext4 there
        local reads = section_count(text, "read")
        assert.is_true(reads >= 100 and reads <= 110, text)
      assert.are.equal(100, section_count(text, "write"), text)
      assert.is_true(section_count(text, "open") >= 2, text)
      assert.are.equal(1, section_count(text, "fsync"), text)
    end)

    it("ext4slower: each ext4 operation of a process with min_ms 0, as CSV with -j", function()
      local text, status, pid = runner.run("bpflua scripts/ext4slower.lua -j -p $WPID 0", "ENDTIME_us",
        copy("ext4slower"))
      assert.are.equal(130, status, text)
      assert.matches("ENDTIME_us,TASK,PID,TYPE,BYTES,OFFSET_b,LATENCY_us,FILE\n", text, 1, true)
      local offsets = 0
      for offset in text:gmatch("\n%d+,dd," .. pid .. ",R,4096,(%d+),%d+,input") do
        offsets = offsets + tonumber(offset)
      end
      assert.are.equal(4096 * (0 + 99) * 100 / 2, offsets, text) -- each of the 100 reads, in order
      local _, writes = text:gsub("\n%d+,dd," .. pid .. ",W,4096,%d+,%d+,ext4slower", "")
      assert.are.equal(100, writes, text)
      assert.matches("\n%d+,dd," .. pid .. ",O,0,0,%d+,input\n", text)
      assert.matches("\n%d+,dd," .. pid .. ",S,0,0,%d+,ext4slower\n", text)
      local plain = runner.run("bpflua scripts/ext4slower.lua -p $WPID 10000", "FILENAME", copy("ext4slower-2"))
      assert.are.equal("Tracing ext4 operations slower than 10000 ms\n" ..
        "TIME     COMM           PID    T BYTES   OFF_KB   LAT(ms) FILENAME\nbpflua: interrupted\n", plain)
    end)
  end)

  describe("drsnoop.lua", function()
    it("prints bcc's header with -T -U, ends after -d seconds; -v says what it lacks", function()
      local out, err, status = h.run("timeout 60 bpflua scripts/drsnoop.lua -T -U -d 1")
      assert.are.equal(0, status, err)
      assert.matches("^TIME%(s%)       UID   COMM           PID     LAT%(ms%) PAGES\n", out)
      local has_vm_stat = h.run("grep -qw vm_zone_stat /proc/kallsyms && echo yes"):find("yes")
      local verbose, _, vstatus = h.run("timeout 60 bpflua scripts/drsnoop.lua -v -t 1 -d 1")
      if has_vm_stat then
        assert.are.equal(0, vstatus, verbose)
        assert.matches("^COMM           TID     LAT%(ms%) PAGES  FREE%(KB%)\n", verbose)
      else
        assert.are.equal(1, vstatus, verbose)
        assert.matches("ERROR: no vm_stat or vm_zone_stat in /proc/kallsyms. Exiting.", verbose, 1, true)
      end
    end)
  end)

  describe("llcstat.lua", function()
    it("counts cache references per process where the CPU has the PMU events, else says why", function()
      local pmu = io.open("/sys/bus/event_source/devices/cpu/type") ~= nil
      local out, err, status = h.run("timeout 60 bpflua scripts/llcstat.lua -c 1000 1")
      if not pmu then
        -- QEMU's TCG and this development VM have no hardware cache events: bcc's error
        assert.are.equal(1, status, out .. err)
        assert.are.equal("Failed to attach to a hardware event. Is this a virtual machine?\n", out)
        return
      end
      assert.are.equal(0, status, err)
      assert.matches("PID      NAME             CPU     REFERENCE         MISS    HIT%\n", out, 1, true)
      assert.matches("Total References: %d+ Total Misses: %d+ Hit Rate: %-?[%d.]+%%\n", out)
    end)
  end)

  it("print bcc's usage lines with -h and refuse unknown options", function()
    for tool, usage in pairs({
      capable = "[-v] [-p PID] [-K] [-U] [-x] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [--unique]",
      tcpaccept = "[-T] [-t] [-p PID] [-P PORT] [-4 | -6] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP]",
      biotop = "[-C] [-r MAXROWS] [-p PID] [interval] [count]",
      drsnoop = "[-T] [-U] [-p PID] [-t TID] [-u UID] [-d DURATION] [-n NAME] [-v]",
      llcstat = "[-c SAMPLE_PERIOD] [-t] [duration]",
      cachestat = "[-T] [interval] [count]",
      vfsstat = "[-p PID] [interval] [count]",
      filelife = "[-p PID]",
      fileslower = "[-p PID] [-a] [min_ms]",
      filetop = "[-a] [-C] [-r MAXROWS] [-s {all,reads,writes,rbytes,wbytes}] [-p PID] [interval] [count]",
      ext4dist = "[-T] [-m] [-p PID] [interval] [count]",
      ext4slower = "[-j] [-p PID] [min_ms]",
    }) do
      local out, _, status = h.run("bpflua scripts/" .. tool .. ".lua -h")
      assert.are.equal(0, status, tool)
      assert.matches("usage: " .. tool .. ".lua [-h] " .. usage, out, 1, true)
      assert.matches("examples:", out, 1, true)
      local _, err, bad = h.run("bpflua scripts/" .. tool .. ".lua --bogus")
      assert.are.equal(2, bad, tool)
      assert.matches("unknown option --bogus", err, 1, true)
    end
  end)

  it("kprobe tools say in one line that this kernel cannot run them", function()
    if has_kprobes then
      return -- spec/kernel/tools_kprobe_spec.lua runs them
    end
    for _, tool in ipairs({"cachestat", "filelife"}) do
      local out, err, status = h.run("timeout 120 bpflua scripts/" .. tool .. ".lua")
      assert.are.equal(1, status, tool .. ": " .. out .. err)
      assert.matches("^" .. tool .. "%.lua: cannot attach '[%w_]+' to kprobe [%w_]+: this kernel has no kprobes",
        err)
      assert.are.equal(1, select(2, err:gsub("\n", "")), err)
    end
  end)
end)
