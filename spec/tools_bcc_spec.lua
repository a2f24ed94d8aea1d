-- bcc's tools written for bpflua (exitsnoop, killsnoop, statsnoop, biolatency, bitesize,
-- softirqs, hardirqs, tcpstates), each run as a user runs it against a workload this spec
-- makes, its output checked against what the workload did, and its header lines against
-- bcc's.
local h = require("spec.helpers")

local function escape(s)
  return (s:gsub("[%-%.%+%[%]%(%)%$%^%%%?%*]", "%%%0"))
end

-- The count of a log2 histogram's bucket "lo -> hi" in text (the first one printed).
local function bucket(text, lo, hi)
  return tonumber(text:match("%s" .. lo .. " %-> " .. hi .. "%s+: (%d+)"))
end

-- A loopback TCP connection to a listener on port, opened and closed by python3.
local function tcp_roundtrip(port)
  return string.format([[python3 -c "
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', %d)); s.listen()
c = socket.create_connection(('127.0.0.1', %d)); a, _ = s.accept()
c.sendall(b'x' * 3000); a.recv(4096); c.close(); a.close(); s.close()"]], port, port)
end

describe("bcc's tools", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local marker = "/tmp/bpflua-tools-bcc-" .. h.unique()

  describe("exitsnoop.lua", function()
    it("prints exits with code and signal, and -x leaves out exit(0)", function()
      local text, status = h.run_script("bpflua scripts/exitsnoop.lua -x --label=exit", "EXIT_CODE",
        "sh -c 'echo $$ > " .. marker .. "-a; exit 3'; sh -c 'echo $$ > " .. marker ..
        "-b; kill -TERM $$'; sh -c 'echo $$ > " .. marker .. "-c; exit 0'")
      assert.are.equal(130, status, text)
      assert.matches("LABEL PCOMM            PID     PPID    TID     AGE(s)  EXIT_CODE", text, 1, true)
      local a = io.open(marker .. "-a"):read("*l")
      local b = io.open(marker .. "-b"):read("*l")
      local c = io.open(marker .. "-c"):read("*l")
      os.remove(marker .. "-a"); os.remove(marker .. "-b"); os.remove(marker .. "-c")
      assert.matches("exit  sh +" .. a .. " +%d+ +" .. a .. " +[%d.]+ +code 3\n", text)
      assert.matches("exit  sh +" .. b .. " +%d+ +" .. b .. " +[%d.]+ +signal 15 %(TERM%)\n", text)
      assert.not_matches("sh +" .. c .. " ", text)
    end)
  end)

  describe("killsnoop.lua", function()
    it("prints kill() calls with signal, target and result; -s filters signals", function()
      local text, status = h.run_script("bpflua scripts/killsnoop.lua -s TERM,0", "RESULT",
        -- the target ignores USR1 (kept across exec), so that TERM still finds it alive
        "(trap '' USR1; exec sleep 30) & sp=$!; echo $sp > " .. marker .. "-t; kill -0 $sp; kill -USR1 $sp; " ..
        "kill -TERM $sp; kill -TERM 999999999 2>/dev/null; wait $sp")
      assert.are.equal(130, status, text)
      assert.matches("TIME +PID +COMM +SIG +TPID +RESULT\n", text)
      local target = io.open(marker .. "-t"):read("*l")
      os.remove(marker .. "-t")
      assert.matches("%d+:%d+:%d+ +%d+ +%S+ +0 +" .. target .. " +0\n", text)
      assert.matches("%d+:%d+:%d+ +%d+ +%S+ +15 +" .. target .. " +0\n", text)
      assert.matches(" 15 +999999999 +%-3\n", text) -- ESRCH
      assert.not_matches(" 10 +" .. target, text)
    end)
  end)

  describe("statsnoop.lua", function()
    it("prints stat calls with fd, errno and path; -x only failed ones, -s the syscall", function()
      local text, status = h.run_script("bpflua scripts/statsnoop.lua -x -s -t", "PATH",
        "stat " .. marker .. "-missing 2>/dev/null; stat /etc/hostname > /dev/null; " ..
        "stat -f " .. marker .. "-nofs 2>/dev/null")
      assert.are.equal(130, status, text)
      assert.matches("TIME(s)       PID     COMM               FD ERR SYSCALL      PATH", text, 1, true)
      assert.matches("[%d.]+ +%d+ +stat +%-1 +2 (%S+) +" .. escape(marker) .. "%-missing\n", text)
      assert.matches("[%d.]+ +%d+ +stat +%-1 +2 statfs +" .. escape(marker) .. "%-nofs\n", text)
      assert.not_matches("/etc/hostname", text, 1, true)
    end)
  end)

  describe("biolatency.lua", function()
    it("counts each direct read of a file in a histogram per disk, with -e's summary", function()
      h.run("dd if=/dev/zero of=" .. marker .. "-data bs=1M count=2 2>/dev/null; sync")
      local text, status = h.run_script("bpflua scripts/biolatency.lua -D -e", "Hit Ctrl-C",
        "dd if=" .. marker .. "-data of=/dev/null bs=16k count=40 iflag=direct 2>/dev/null")
      os.remove(marker .. "-data")
      assert.are.equal(130, status, text)
      assert.matches("\ndisk = %S+\n +usecs +: count +distribution\n", text)
      local total = 0
      for n in text:gmatch("%d+ %-> %d+%s+: (%d+)") do
        total = total + tonumber(n)
      end
      assert.is_true(total >= 40, text)
      local count = tonumber(text:match("avg = %d+ usecs, total: %d+ usecs, count: (%d+)"))
      assert.are.equal(total, count, text)
    end)

    it("reports every interval, count times, then ends by itself", function()
      local out, _, status = h.run("timeout 10 bpflua scripts/biolatency.lua -T 1 2")
      assert.are.equal(0, status, out)
      local _, stamps = out:gsub("\n%d%d:%d%d:%d%d\n", "")
      assert.are.equal(2, stamps, out)
    end)
  end)

  describe("runqlen.lua", function()
    it("sees CPU 0's queue occupied while three busy processes share it", function()
      -- pure spinners: a loop that forks (date) would leave the queue while it waits; they
      -- spin until the tool has ended, however long its start takes on a loaded machine
      local busy = "timeout 120 taskset -c 0 sh -c 'while :; do :; done'"
      local spin = busy .. " & b1=$!; " .. busy .. " & b2=$!; " .. busy .. " & b3=$!; sleep 0.3; "
      local stop = "; s=$?; kill $b1 $b2 $b3; wait; exit $s"
      local out, err, status = h.run(spin .. "bpflua scripts/runqlen.lua -O -C 1 1" .. stop)
      assert.are.equal(0, status, err)
      assert.matches("Sampling run queue length... Hit Ctrl-C to end.", out, 1, true)
      local occupied = tonumber(out:match("runqocc, CPU 0 +([%d.]+)%%"))
      assert.is_true(occupied >= 50, out)
      local hist = h.run(spin .. "bpflua scripts/runqlen.lua -C 1 1" .. stop)
      assert.matches("\ncpu = 0\n     runqlen       : count     distribution\n", hist, 1, true)
      local cpu0 = hist:match("\ncpu = 0\n(.-)\n\n") or hist:match("\ncpu = 0\n(.*)")
      assert.is_true(tonumber(cpu0:match("\n +2 +: (%d+)")) > 0, hist)
    end)
  end)

  describe("mountsnoop.lua", function()
    it("prints mount and umount calls with decoded flags and results", function()
      local dir = marker .. "-mnt"
      local text, status = h.run_script("bpflua scripts/mountsnoop.lua -P", "CALL",
        "mkdir -p " .. dir .. "; mount -t tmpfs -o nosuid,nodev,size=1m spec " .. dir .. "; umount " ..
        dir .. "; umount " .. dir .. " 2>/dev/null; rmdir " .. dir)
      assert.are.equal(130, status, text)
      assert.matches("COMM             PID     TID     PCOMM            PPID    MNT_NS      CALL\n", text, 1, true)
      local d = escape(dir)
      assert.matches('mount +%d+ +%d+ +%S+ +%d+ +%d+ +mount%("spec", "' .. d ..
        '", "tmpfs", MS_NOSUID|MS_NODEV, "size=1m"%) = 0\n', text)
      assert.matches('umount +%d+ +%d+ +%S+ +%d+ +%d+ +umount%("' .. d .. '", 0x0%) = 0\n', text)
      assert.matches('umount%("' .. d .. '", 0x0%) = %-EINVAL\n', text)
    end)
  end)

  describe("biosnoop.lua", function()
    it("prints each of dd's direct reads with its size, sequential after the first", function()
      h.run("dd if=/dev/zero of=" .. marker .. "-data bs=1M count=1 2>/dev/null; sync")
      local text, status = h.run_script("bpflua scripts/biosnoop.lua -Q -P", "LAT(ms)",
        "dd if=" .. marker .. "-data of=/dev/null bs=16k count=12 iflag=direct 2>/dev/null")
      os.remove(marker .. "-data")
      assert.are.equal(130, status, text)
      assert.matches("TIME(s)     COMM           PID     DISK      T SECTOR     BYTES  P QUE(ms) LAT(ms)\n", text, 1, true)
      -- the block layer may merge adjacent reads under load: count bytes, not requests
      local bytes, reads, sequential = 0, 0, 0
      for size, pattern in text:gmatch("\n[%d.]+ +dd +%d+ +%S+ +R +%d+ +(%d+) +([SR?]) +[%d.]+ +[%d.]+") do
        bytes = bytes + tonumber(size)
        reads = reads + 1
        sequential = sequential + (pattern == "S" and 1 or 0)
      end
      assert.are.equal(12 * 16384, bytes, text)
      assert.is_true(sequential >= reads - 2, text)
    end)
  end)

  describe("bitesize.lua", function()
    it("sorts each process's I/O by size: 40 direct 16 KiB reads by dd", function()
      -- dd under a name of this run's own: other runs of this spec read with dd at once
      local dd = "dd" .. h.getpid()
      local bin = marker .. "-bin"
      h.run("mkdir -p " .. bin .. "; cp /bin/dd " .. bin .. "/" .. dd .. "; dd if=/dev/zero of=" ..
        marker .. "-data bs=1M count=2 2>/dev/null; sync")
      local text, status = h.run_script("bpflua scripts/bitesize.lua -c " .. dd, "Hit Ctrl-C",
        bin .. "/" .. dd .. " if=" .. marker .. "-data of=/dev/null bs=16k count=40 iflag=direct 2>/dev/null")
      os.remove(marker .. "-data")
      h.run("rm -rf " .. bin)
      assert.are.equal(130, status, text)
      assert.matches("Process Name = " .. dd .. "\n", text, 1, true)
      assert.not_matches("Process Name = [^d]", text)
      assert.are.equal(40, bucket(text, 16, 31), text)
    end)
  end)

  describe("softirqs.lua and hardirqs.lua", function()
    it("total the time in soft irqs by name, and count them with -C", function()
      local out, _, status = h.run("timeout 10 bpflua scripts/softirqs.lua 1 1")
      assert.are.equal(0, status, out)
      assert.matches("SOFTIRQ          TOTAL_usecs\n", out, 1, true)
      assert.matches("\n(%a[%w_]*) +%d+\n", out)
      local counted = h.run("timeout 10 bpflua scripts/softirqs.lua -C 1 1")
      assert.matches("SOFTIRQ          TOTAL_count\n", counted, 1, true)
      for name in counted:gmatch("\n(%a[%w_]*) +%d+") do
        assert.is_truthy(({hi = 1, timer = 1, net_tx = 1, net_rx = 1, block = 1, irq_poll = 1,
          tasklet = 1, sched = 1, hrtimer = 1, rcu = 1})[name], name)
      end
    end)

    it("see the disk's interrupt when the spec reads from the disk", function()
      h.run("dd if=/dev/zero of=" .. marker .. "-data bs=1M count=1 2>/dev/null; sync")
      local text, status = h.run_script("bpflua scripts/hardirqs.lua -C", "Hit Ctrl-C",
        "dd if=" .. marker .. "-data of=/dev/null bs=4k count=20 iflag=direct 2>/dev/null")
      os.remove(marker .. "-data")
      assert.are.equal(130, status, text)
      assert.matches("HARDIRQ                    TOTAL_count\n", text, 1, true)
      local total = 0
      for n in text:gmatch("\n%S+ +(%d+)") do
        total = total + tonumber(n)
      end
      assert.is_true(total >= 20, text)
    end)
  end)

  describe("tcpstates.lua", function()
    it("follows a loopback connection through its states on both ends", function()
      local port = 20000 + h.getpid() % 20000
      local text, status = h.run_script("bpflua scripts/tcpstates.lua -L " .. port, "NEWSTATE",
        tcp_roundtrip(port))
      assert.are.equal(130, status, text)
      assert.matches("SKADDR           C-PID C-COMM     LADDR           LPORT RADDR           RPORT OLDSTATE    -> NEWSTATE    MS",
        text, 1, true)
      for _, change in ipairs({"CLOSE +%-> LISTEN", "LISTEN +%-> SYN_RECV", "SYN_RECV +%-> ESTABLISHED",
                               "LISTEN +%-> CLOSE"}) do
        assert.matches("127%.0%.0%.1 +" .. port .. " .- " .. change, text)
      end
      assert.not_matches("SYN_SENT", text) -- the client's side has another local port
      local csv = h.run_script("bpflua scripts/tcpstates.lua -s -D " .. port, "NEWSTATE",
        tcp_roundtrip(port))
      assert.matches("%x+,%d+,python3,4,127%.0%.0%.1,%d+,127%.0%.0%.1," .. port .. ",SYN_SENT,ESTABLISHED,[%d.]+\n", csv)
    end)
  end)

  describe("tcpconnect.lua", function()
    it("prints each connect with its process, ends and ports; -c counts them", function()
      local port = 20000 + (h.getpid() + 11) % 20000
      local text, status = h.run_script("bpflua scripts/tcpconnect.lua -L -U -P " .. port, "DPORT",
        tcp_roundtrip(port) .. "; " .. tcp_roundtrip(port))
      assert.are.equal(130, status, text)
      assert.matches("UID   PID     COMM         IP SADDR            LPORT  DADDR            DPORT", text, 1, true)
      local _, n = text:gsub("\n0 +%d+ +python3 +4 +127%.0%.0%.1 +%d+ +127%.0%.0%.1 +" .. port, "")
      assert.are.equal(2, n, text)
      local counted = h.run_script("bpflua scripts/tcpconnect.lua -c -P " .. port, "Hit Ctrl-C",
        tcp_roundtrip(port) .. "; " .. tcp_roundtrip(port) .. "; " .. tcp_roundtrip(port))
      assert.matches("\n127%.0%.0%.1 +127%.0%.0%.1 +" .. port .. " +3 *\n", counted)
    end)

    -- A DNS server on 127.0.0.1:53 answering one A query with address, and a client that
    -- resolves name through it (recvfrom, or recvmsg with how = "recvmsg") and connects to
    -- the answer's closed port 9.
    local function resolve_and_connect(name, address, how)
      return string.format([[python3 -c "
import socket, struct, threading
srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); srv.bind(('127.0.0.1', 53))
def serve():
    q, peer = srv.recvfrom(512)
    answer = b'\\xc0\\x0c' + struct.pack('>HHIH', 1, 1, 60, 4) + socket.inet_aton('%s')
    srv.sendto(q[:2] + struct.pack('>HHHHH', 0x8180, 1, 1, 0, 0) + q[12:] + answer, peer)
threading.Thread(target=serve).start()
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
qname = b''.join(bytes([len(p)]) + p.encode() for p in '%s'.split('.')) + b'\\0'
c.sendto(b'\\x12\\x34\\x01\\0\\0\\x01' + b'\\0' * 6 + qname + b'\\0\\x01\\0\\x01', ('127.0.0.1', 53))
data = c.recvmsg(512)[0] if '%s' == 'recvmsg' else c.recvfrom(512)[0]
try: socket.create_connection((socket.inet_ntoa(data[-4:]), 9))
except OSError: pass
"]], address, name, how)
    end

    it("-d names each connect's address with the DNS query that answered it", function()
      local tag = "t" .. h.unique() .. ".bpflua.example"
      local text, status = h.run_script("bpflua scripts/tcpconnect.lua -d -P 9", "QUERY",
        resolve_and_connect("www." .. tag, "127.0.0.9", "recvfrom") .. "; " ..
        resolve_and_connect("mail." .. tag, "127.0.0.10", "recvmsg") .. "; " ..
        "bash -c 'echo > /dev/tcp/127.0.0.1/9' 2>/dev/null; bash -c 'echo > /dev/tcp/127.0.0.11/9' 2>/dev/null")
      assert.are.equal(130, status, text)
      assert.matches("PID     COMM         IP SADDR            DADDR            DPORT  QUERY\n", text, 1, true)
      assert.matches("python3 +4  127%.0%.0%.1 +127%.0%.0%.9 +9 +www%." .. escape(tag) .. "\n", text)
      assert.matches("python3 +4  127%.0%.0%.1 +127%.0%.0%.10 +9 +mail%." .. escape(tag) .. "\n", text)
      assert.matches("bash +4  127%.0%.0%.1 +127%.0%.0%.1 +9 +localhost\n", text)
      assert.matches("bash +4  127%.0%.0%.1 +127%.0%.0%.11 +9 +No DNS Query\n", text)
      local _, err, bad = h.run("bpflua scripts/tcpconnect.lua -d -c")
      assert.are.equal(1, bad)
      assert.matches("you may not specify -d/--dns with -c/--count", err, 1, true)
    end)
  end)

  describe("tcplife.lua", function()
    it("prints a closed session's owner, ends, bytes and lifespan", function()
      local port = 20000 + (h.getpid() + 7) % 20000
      local text, status = h.run_script("bpflua scripts/tcplife.lua -D " .. port, "RX_KB",
        tcp_roundtrip(port))
      assert.are.equal(130, status, text)
      assert.matches("PID   COMM       LADDR           LPORT RADDR           RPORT TX_KB RX_KB MS\n", text, 1, true)
      -- the client's side: it sent 3000 bytes (2 KB as tcplife rounds), received none
      assert.matches("%d+ +python3 +127%.0%.0%.1 +%d+ +127%.0%.0%.1 +" .. port .. " +2 +0 [%d.]+\n", text)
      local csv = h.run_script("bpflua scripts/tcplife.lua -s -L " .. port, "RX_KB", tcp_roundtrip(port))
      assert.matches("%d+,python3,4,127%.0%.0%.1," .. port .. ",127%.0%.0%.1,%d+,0,2,[%d.]+\n", csv)
    end)
  end)

  describe("cpudist.lua", function()
    it("-O -P -p shows one process's off-CPU time: twenty 10 ms sleeps", function()
      local pidfile = marker .. "-sleeper"
      local text, status = h.run_script(
        "rm -f " .. marker .. "-fifo; mkfifo " .. marker .. "-fifo; " ..
        "(read go < " .. marker .. "-fifo; exec python3 -c 'import time; [time.sleep(0.01) for i in range(20)]') & " ..
        "echo $! > " .. pidfile .. "; bpflua scripts/cpudist.lua -O -P -p $(cat " .. pidfile .. ")",
        "Hit Ctrl-C", "echo go > " .. marker .. "-fifo; sleep 0.6")
      assert.are.equal(130, status, text)
      local pid = io.open(pidfile):read("*l")
      os.remove(pidfile)
      os.remove(marker .. "-fifo")
      assert.matches("Tracing off-CPU time... Hit Ctrl-C to end.", text, 1, true)
      local _, sections = text:gsub("\npid = ", "")
      assert.are.equal(1, sections, text)
      assert.matches("\npid = " .. pid .. "[^\n]*\n     usecs ", text)
      -- twenty sleeps of 10 ms or more (a loaded machine wakes them late, never early)
      local slept = 0
      for lo, n in text:gmatch("\n +(%d+) %-> %d+ +: (%d+)") do
        if tonumber(lo) >= 8192 then
          slept = slept + tonumber(n)
        end
      end
      assert.is_true(slept >= 20, text)
    end)
  end)

  describe("gethostlatency.lua", function()
    it("times a getaddrinfo lookup and names the host", function()
      local text, status = h.run_script("bpflua scripts/gethostlatency.lua", "HOST",
        "getent ahosts localhost > /dev/null; getent hosts localhost > /dev/null")
      assert.are.equal(130, status, text)
      assert.matches("TIME      PID     COMM                  LATms HOST\n", text, 1, true)
      assert.matches("%d+:%d+:%d+ +%d+ +getent +[%d.]+ localhost\n", text)
    end)
  end)

  describe("bashreadline.lua", function()
    it("prints the lines typed into an interactive bash", function()
      local session = "bpflua-spec-rl-" .. h.getpid()
      local text, status = h.run_script("bpflua scripts/bashreadline.lua", "COMMAND",
        "tmux new-session -d -s " .. session .. " -x 80 -y 20 'bash --norc --noprofile -i'; sleep 0.5; " ..
        "tmux send-keys -t " .. session .. " 'echo " .. marker .. "-typed' Enter; sleep 0.3; " ..
        "tmux send-keys -t " .. session .. " exit Enter; sleep 0.3; tmux kill-session -t " .. session .. " 2>/dev/null")
      assert.are.equal(130, status, text)
      assert.matches("TIME      PID     COMMAND\n", text, 1, true)
      assert.matches("%d+:%d+:%d+ +%d+ +echo " .. escape(marker) .. "%-typed\n", text)
      assert.matches("%d+:%d+:%d+ +%d+ +exit\n", text)
    end)
  end)

  it("print bcc's usage lines with -h and refuse unknown options", function()
    for tool, usage in pairs({
      exitsnoop = "[-t] [--utc] [-p PID] [--label LABEL] [-x] [--per-thread]",
      killsnoop = "[-x] [-p PID] [-T TPID] [-s SIGNAL]",
      statsnoop = "[-t] [-x] [-s] [-p PID]",
      biolatency = "[-T] [-Q] [-m] [-D] [-F] [-e] [-j] [-d DISK] [interval] [count]",
      softirqs = "[-T] [-N] [-C] [-d] [-c CPU] [interval] [count]",
      hardirqs = "[-T] [-N] [-C] [-d] [-c CPU] [interval] [outputs]",
      tcpstates = "[-T] [-t] [-w] [-s] [-L LOCALPORT] [-D REMOTEPORT] [-4 | -6]",
      mountsnoop = "[--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-P]",
      runqlen = "[-T] [-O] [-C] [interval] [count]",
      biosnoop = "[-Q] [-d DISK] [-P]",
      tcpconnect = "[-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID] [-c] " ..
        "[--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]",
      cpudist = "[-O] [-T] [-m] [-P] [-L] [-p PID] [-I] [-e] [interval] [count]",
      tcplife = "[-T] [-t] [-w] [-s] [-p PID] [-L LOCALPORT] [-D REMOTEPORT] [-4 | -6]",
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
end)
