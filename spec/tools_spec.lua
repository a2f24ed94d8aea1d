-- The classic tools in scripts/ (opensnoop, execsnoop, syscount, trace_printk, funccount), each
-- run as a user runs it against a workload this spec makes. Workloads that a filter must
-- single out wait on a FIFO, so that their pid is known before the tool starts and they act
-- only once it is tracing.
local h = require("spec.helpers")

local rows_after = h.rows_after

-- A shell prefix that starts `command` in the background, waiting on a FIFO first; the
-- workload "go" releases it. $wp is its pid (exec keeps it), also written to fifo .. ".pid".
local function gated(fifo, command)
  return string.format("rm -f %s; mkfifo %s; (read line < %s; exec %s) & wp=$!; echo $wp > %s.pid; ",
    fifo, fifo, fifo, command, fifo)
end

local function gated_pid(fifo)
  local f = assert(io.open(fifo .. ".pid"))
  local pid = f:read("*l")
  f:close()
  os.remove(fifo .. ".pid")
  return pid
end

describe("tools", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local marker = "/tmp/bpflua-tools-" .. h.unique()
  local fifo = marker .. "-fifo"

  after_each(function()
    os.remove(fifo)
  end)

  describe("opensnoop.lua", function()
    it("prints PID COMM FD ERR PATH for opens, with the errno of a failed one", function()
      local text, status = h.run_script("bpflua scripts/opensnoop.lua", "PATH",
        "cat " .. marker .. "-missing 2>/dev/null; cat /etc/hostname > /dev/null")
      assert.are.equal(130, status, text)
      assert.matches("PID    COMM               FD ERR PATH", text, 1, true)
      assert.matches("%d+ +cat +%-1   2 " .. marker:gsub("%-", "%%-") .. "%-missing\n", text)
      assert.matches("%d+ +cat +%d+   0 /etc/hostname\n", text)
    end)

    it("-p traces one process only", function()
      local text, status = h.run_script(
        gated(fifo, "cat " .. marker .. "-mine") .. "bpflua scripts/opensnoop.lua -p $wp", "PATH",
        "cat " .. marker .. "-other 2>/dev/null; echo go > " .. fifo)
      assert.are.equal(130, status, text)
      local wp = gated_pid(fifo)
      local rows = rows_after(text, "PATH")
      assert.is_true(#rows >= 1, text)
      for _, row in ipairs(rows) do
        assert.are.equal(wp, row:match("^(%d+)"), text)
      end
      assert.matches(wp .. " +cat +%-1   2 " .. marker:gsub("%-", "%%-") .. "%-mine", text)
      assert.not_matches("-other", text, 1, true)
    end)

    it("-n NAME and -x show only failed opens by matching processes", function()
      local text, status = h.run_script("bpflua scripts/opensnoop.lua -x -n cat", "PATH",
        "cat " .. marker .. "-x1 2>/dev/null; cat /etc/hostname > /dev/null; " ..
        "head " .. marker .. "-x2 2>/dev/null")
      assert.are.equal(130, status, text)
      local rows = rows_after(text, "PATH")
      assert.is_true(#rows >= 1, text)
      for _, row in ipairs(rows) do
        local comm, fd, err = row:match("^%d+ +(%S+) +(%-?%d+) +(%d+)")
        assert.matches("cat", comm, 1, true)
        assert.are.equal("-1", fd, row)
        assert.are_not.equal("0", err, row)
      end
      assert.matches(marker .. "-x1", text, 1, true)
      assert.not_matches(marker .. "-x2", text, 1, true)
      assert.not_matches("/etc/hostname", text, 1, true)
    end)

    it("-T, -U and -e add bcc's TIME(s), UID and FLAGS columns; -f keeps the flags asked for", function()
      local text, status = h.run_script("bpflua scripts/opensnoop.lua -T -U -e -f O_WRONLY -n sh",
        "PATH", "sh -c 'echo > " .. marker .. "-w; cat " .. marker .. "-w' ; rm -f " .. marker .. "-w")
      assert.are.equal(130, status, text)
      assert.matches("TIME(s)       UID   PID    COMM               FD ERR FLAGS    PATH", text, 1, true)
      -- the shell's "echo >" opens with O_WRONLY|O_CREAT|O_TRUNC (01101); cat's read-only open
      -- is filtered out by -f O_WRONLY
      local seconds, uid, flags = text:match("\n(%d+%.%d+) +(%d+) +%d+ +sh +%d+ +0 (%d+) " ..
        marker:gsub("%-", "%%-") .. "%-w\n")
      assert.is_truthy(seconds, text)
      assert.are.equal("0", uid)
      assert.are.equal(8, #flags)
      assert.are.equal(1, bit.band(tonumber(flags, 8), 3), flags)
      assert.is_true(tonumber(seconds) < 5, seconds)
      for _, row in ipairs(rows_after(text, "PATH")) do
        assert.are.equal(1, bit.band(tonumber(row:match(" (%d%d%d%d%d%d%d%d) ")), 1), row)
      end
      local _, err, bad = h.run("bpflua scripts/opensnoop.lua -f O_BOGUS")
      assert.are.equal(2, bad)
      assert.matches("Bad flag: O_BOGUS", err, 1, true)
    end)

    it("-F prints a relative path from the opener's directory, and from a directory fd", function()
      local dir = marker .. "-dir"
      local text, status = h.run_script("bpflua scripts/opensnoop.lua -F -n cat", "PATH",
        "mkdir -p " .. dir .. "/sub; cd " .. dir .. "/sub && cat ../rel 2>/dev/null; " ..
        "cd /; cat etc/hostname > /dev/null; rm -rf " .. dir)
      assert.are.equal(130, status, text)
      assert.matches("cat +%-1   2 " .. dir:gsub("%-", "%%-") .. "/sub/%.%./rel\n", text)
      assert.matches("cat +%d+   0 /etc/hostname\n", text)
      -- openat(dirfd, "name"): the path starts at dirfd's directory (bcc's tools need python3)
      local py = io.open("/usr/bin/python3") and "/usr/bin/python3" or h.run("command -v python3"):match("%S+")
      if py then
        local text2 = h.run_script("bpflua scripts/opensnoop.lua -F -n python3", "PATH",
          py .. " -c \"import os; d = os.open('/etc', os.O_RDONLY); os.close(os.open('hostname', " ..
          "os.O_RDONLY, dir_fd=d))\"")
        assert.matches("python3 +%d+   0 /etc/hostname\n", text2)
      end
    end)

    it("-t traces one thread and prints TID; -u one user", function()
      local text, status = h.run_script(
        gated(fifo, "cat " .. marker .. "-tid") .. "bpflua scripts/opensnoop.lua -t $wp -u 0", "PATH",
        "cat " .. marker .. "-other 2>/dev/null; echo go > " .. fifo)
      assert.are.equal(130, status, text)
      local wp = gated_pid(fifo)
      assert.matches("TID    COMM", text, 1, true)
      assert.matches(wp .. " +cat +%-1   2 " .. marker:gsub("%-", "%%-") .. "%-tid", text)
      assert.not_matches("-other", text, 1, true)
      local none = h.run_script("bpflua scripts/opensnoop.lua -u 4242 -n cat", "PATH",
        "cat " .. marker .. "-uid 2>/dev/null")
      assert.matches("PID    COMM", none, 1, true)
      assert.not_matches("-uid", none, 1, true)
    end)

    it("-h prints the usage and exits 0; a bad option exits 2", function()
      local out, _, status = h.run("bpflua scripts/opensnoop.lua -h")
      assert.are.equal(0, status)
      assert.matches("usage: opensnoop.lua", out, 1, true)
      assert.matches("-p PID, --pid PID", out, 1, true)
      assert.matches("-d DURATION, --duration DURATION", out, 1, true)
      local _, err, bad = h.run("bpflua scripts/opensnoop.lua --bogus")
      assert.are.equal(2, bad)
      assert.matches("opensnoop.lua: unknown option --bogus", err, 1, true)
      local _, err2, bad2 = h.run("bpflua scripts/opensnoop.lua -p notanumber")
      assert.are.equal(2, bad2)
      assert.matches("-p needs a number", err2, 1, true)
    end)
  end)

  describe("execsnoop.lua", function()
    it("prints each exec with its pid, parent, result and arguments", function()
      local text, status = h.run_script("bpflua scripts/execsnoop.lua", "ARGS",
        "sh -c 'echo $$ > " .. marker .. "-pid; exec /bin/echo " .. marker .. " two three' > /dev/null")
      assert.are.equal(130, status, text)
      assert.matches("COMM             PID     PPID    RET ARGS", text, 1, true)
      local pid = io.open(marker .. "-pid"):read("*l")
      os.remove(marker .. "-pid")
      -- sh itself is exec'd first (by the spec's shell), then replaces itself with echo.
      assert.matches("echo +" .. pid .. " +%d+ +0 /bin/echo " .. marker:gsub("%-", "%%-") .. " two three\n", text)
    end)

    it("shows successful execs only, and failed ones too with -x, as bcc's", function()
      local workload = marker .. "-nosuch 2>/dev/null; /bin/echo " .. marker .. "-ok > /dev/null"
      local text, status = h.run_script("bpflua scripts/execsnoop.lua", "ARGS", workload)
      assert.are.equal(130, status, text)
      assert.not_matches(marker .. "-nosuch", text, 1, true)
      assert.matches(" 0 /bin/echo " .. marker .. "-ok", text, 1, true)
      local with_failed = h.run_script("bpflua scripts/execsnoop.lua -x", "ARGS", workload)
      assert.matches(" %-2 " .. marker:gsub("%-", "%%-") .. "%-nosuch", with_failed)
      assert.matches(" 0 /bin/echo " .. marker .. "-ok", with_failed, 1, true)
    end)

    it("-n and -l filter by regular expression, -q quotes, -U and -M add columns", function()
      local text, status = h.run_script("bpflua scripts/execsnoop.lua -q -U -M -n '^ech.$' -l 'two|three'",
        "ARGS", "/bin/echo " .. marker .. " one > /dev/null; /bin/echo " .. marker ..
        " two '\"x\"' > /dev/null; /bin/cat /dev/null")
      assert.are.equal(130, status, text)
      assert.matches("UID   COMM             PID     PCOMM            PPID    RET ARGS", text, 1, true)
      assert.matches('0 +echo +%d+ +%S+ +%d+ +0 "/bin/echo" "' .. marker:gsub("%-", "%%-") ..
        '" "two" "\\"x\\""\n', text)
      assert.not_matches(" one", text, 1, true)
      assert.not_matches("/bin/cat", text, 1, true)
    end)
  end)

  describe("syscount.lua", function()
    it("-p PID -T N counts one process's syscalls and prints the top N", function()
      -- dd with bs=1 makes exactly one read and one write per byte.
      local text, status = h.run_script(
        gated(fifo, "dd if=/dev/zero of=/dev/null bs=1 count=500 status=none") ..
        "bpflua scripts/syscount.lua -p $wp -T 3", "Tracing",
        "echo go > " .. fifo .. "; sleep 0.3")
      assert.are.equal(130, status, text)
      local rows = rows_after(text, "SYSCALL")
      assert.are.equal(4, #rows, text) -- the top 3, then "Detaching..."
      assert.are.equal("Detaching...", rows[4], text)
      local counts = {}
      for i = 1, 3 do
        local name, n = rows[i]:match("^(%S+) +(%d+)$")
        counts[name] = tonumber(n)
      end
      assert.is_true(counts.read >= 500 and counts.read < 520, text)
      assert.is_true(counts.write >= 500 and counts.write < 505, text)
    end)

    it("-P counts by process, -L adds latency, --syscall and -e select", function()
      local text, status = h.run_script(
        gated(fifo, "dd if=/dev/zero of=/dev/null bs=1 count=300 status=none") ..
        "bpflua scripts/syscount.lua -P -L -p $wp", "Tracing",
        "echo go > " .. fifo .. "; sleep 0.3")
      assert.are.equal(130, status, text)
      local wp = gated_pid(fifo)
      assert.matches("PID    COMM +COUNT +TIME %(us%)\n", text)
      local n = tonumber(text:match("\n" .. wp .. " +%S+ +(%d+) +[%d.]+\n"))
      assert.is_true(n >= 600, text)
      local errs = h.run_script("bpflua scripts/syscount.lua --syscall openat -e ENOENT", "Tracing",
        "cat " .. marker .. "-none 2>/dev/null; cat " .. marker .. "-none2 2>/dev/null")
      assert.matches("Tracing syscall 'openat'... Ctrl+C to quit.", errs, 1, true)
      assert.is_true(tonumber(errs:match("\nopenat +(%d+)\n")) >= 2, errs)
      local _, others = errs:gsub("\n%a[%w_]* +%d+\n", "")
      assert.are.equal(1, others, errs)
    end)

    it("-i prints every interval and -d stops it", function()
      local out, err, status = h.run("bpflua scripts/syscount.lua -i 1 -d 2 -T 2")
      assert.are.equal(0, status, err)
      local _, reports = out:gsub("SYSCALL +COUNT", "")
      assert.are.equal(2, reports, out)
      assert.matches("%[%d%d:%d%d:%d%d%]\nSYSCALL", out)
    end)
  end)

  describe("trace_printk.lua", function()
    it("prints Hello, World! with the task and pid for every exec", function()
      local text, status = h.run_script("bpflua scripts/trace_printk.lua", "MESSAGE",
        "sh -c 'echo $$ > " .. marker .. "-pid; exec /bin/true'")
      assert.are.equal(130, status, text)
      local pid = io.open(marker .. "-pid"):read("*l")
      os.remove(marker .. "-pid")
      assert.matches("TIME(s)            COMM             PID    MESSAGE", text, 1, true)
      assert.matches("%d+%.%d+ +%S+ +" .. pid .. " +Hello, World!", text)
    end)
  end)

  describe("funccount.lua", function()
    it("counts calls to a libc function by one process through a uprobe", function()
      local program = "luajit -e \"local ffi = require('ffi'); ffi.cdef('int getpriority(int, int);'); " ..
        "for i = 1, 1000 do ffi.C.getpriority(0, 0) end\""
      local text, status = h.run_script(gated(fifo, program) .. "bpflua scripts/funccount.lua -p $wp c:getpriority",
        "Tracing", "echo go > " .. fifo .. "; sleep 0.3")
      assert.are.equal(130, status, text)
      assert.matches("c:getpriority +1000\n", text)
    end)

    it("needs LIB:FUNCTION", function()
      local _, err, status = h.run("bpflua scripts/funccount.lua")
      assert.are.equal(2, status)
      assert.matches("name at least one LIB:FUNCTION", err, 1, true)
      local _, err2, status2 = h.run("bpflua scripts/funccount.lua c:no_such_function_here")
      assert.are.equal(1, status2)
      assert.matches("no_such_function_here", err2, 1, true)
    end)
  end)

  describe("hello_perf_output.lua", function()
    it("says hello through a perf buffer for every fork, with the parent's pid", function()
      local text, status = h.run_script("bpflua scripts/hello_perf_output.lua", "MESSAGE",
        "sh -c 'echo $$ > " .. marker .. "-pid; /bin/true; /bin/true'")
      assert.are.equal(130, status, text)
      local pid = io.open(marker .. "-pid"):read("*l")
      os.remove(marker .. "-pid")
      assert.matches("TIME(s)            COMM             PID    MESSAGE", text, 1, true)
      local _, forks = text:gsub("%d+%.%d+ +sh +" .. pid .. " +Hello, perf_output!", "")
      assert.are.equal(2, forks, text)
    end)
  end)

  describe("runqlat.lua", function()
    -- Two busy processes on one CPU wait for each other in its run queue.
    local busy = "taskset -c 0 sh -c 'end=$(($(date +%s) + 2)); while [ $(date +%s) -lt $end ]; do :; done'"

    it("prints run queue latency as a log2 histogram in bcc's layout", function()
      -- bcc's positional interval and count: one 2-second report, then the tool ends
      local out, err, status = h.run(busy .. " & " .. busy .. " & bpflua scripts/runqlat.lua -T 2 1; wait")
      assert.are.equal(0, status, err)
      assert.matches("\n%d%d:%d%d:%d%d\n", out)
      assert.matches("Tracing run queue latency... Hit Ctrl-C to end.", out, 1, true)
      assert.matches("     usecs               : count     distribution\n", out, 1, true)
      local total = 0
      for low, high, count, bar in out:gmatch("\n +(%d+) %-> (%d+) +: (%d+) +|([* ]+)|") do
        assert.are.equal(40, #bar)
        assert.are.equal(tonumber(low) == 0 and 1 or tonumber(low) * 2 - 1, tonumber(high))
        total = total + tonumber(count)
      end
      assert.is_true(total > 10, out)
    end)

    it("-m -P -p prints one millisecond histogram for the one process; -L one per thread", function()
      local text, status = h.run_script(gated(fifo, busy:gsub("^taskset %-c 0 ", "")) ..
        "taskset -c 0 bpflua scripts/runqlat.lua -m -P -p $wp", "Tracing",
        "echo go > " .. fifo .. "; " .. busy .. "; sleep 0.5")
      assert.are.equal(130, status, text)
      local wp = gated_pid(fifo)
      local _, sections = text:gsub("\npid = (%d+)\n", "")
      assert.are.equal(1, sections, text)
      assert.matches("\npid = " .. wp .. "\n     msecs               : count     distribution\n", text, 1, true)
      local threads = h.run_script(gated(fifo, busy:gsub("^taskset %-c 0 ", "")) ..
        "taskset -c 0 bpflua scripts/runqlat.lua -L -p $wp", "Tracing",
        "echo go > " .. fifo .. "; " .. busy .. "; sleep 0.5")
      assert.matches("\ntid = " .. gated_pid(fifo) .. "\n     usecs ", threads, 1, true)
    end)
  end)

  describe("profile.lua and offcputime.lua", function()
    -- A process that spends its time in getpid(): libc in user space, the syscall path in
    -- the kernel.
    local spinner = "luajit -e \"local ffi = require('ffi'); ffi.cdef('int getpid(void);'); " ..
      "local t = os.time() + 3; while os.time() < t do for i = 1, 1000 do ffi.C.getpid() end end\""

    it("-f prints folded stacks of one process with user and kernel frames named", function()
      local out, err, status = h.run(gated(fifo, spinner) ..
        "(sleep 0.5; echo go > " .. fifo .. ") & bpflua scripts/profile.lua -a -f -F 199 -p $wp 2")
      assert.are.equal(0, status, err)
      local samples, kernel, libc = 0, false, false
      for line in out:gmatch("[^\n]+") do
        local stack, count = line:match("^(.+) (%d+)$")
        assert.is_truthy(stack, line)
        -- The pid is the gate's shell until it has exec'd luajit: samples of that moment
        -- carry the shell's name, and are not the workload's.
        if not stack:match("^[%w]*sh;") then
          assert.matches("^luajit;", stack)
          samples = samples + tonumber(count)
        end
        kernel = kernel or stack:find("entry_SYSCALL_64_after_hwframe_[k]", 1, true) ~= nil
        libc = libc or stack:find(";getpid;", 1, true) ~= nil or stack:find(";getpid$") ~= nil
      end
      assert.is_true(samples >= 100, out)
      assert.is_true(kernel, "no kernel syscall frames in:\n" .. out)
      assert.is_true(libc, "no user frame in libc's getpid in:\n" .. out)
    end)

    it("prints bcc's multi-line stacks by default", function()
      local out, err, status = h.run(gated(fifo, spinner) ..
        "(sleep 0.5; echo go > " .. fifo .. ") & bpflua scripts/profile.lua -K -F 99 -p $wp 2")
      assert.are.equal(0, status, err)
      assert.matches("Sampling at 99 Hertz of PID %d+ by kernel stack for 2 secs%.\n", out)
      assert.matches("\n    entry_SYSCALL_64_after_hwframe\n    %-                luajit %(%d+%)\n        %d+\n", out)
    end)

    it("wakeuptime.lua -p charges a sleeper's blocked time to its waker's stack", function()
      local sleeper = "python3 -c 'import time; [time.sleep(0.2) for i in range(8)]'"
      local out, status = h.run_script(gated(fifo, sleeper) ..
        "bpflua scripts/wakeuptime.lua -p $wp", "Hit Ctrl-C", "echo go > " .. fifo .. "; wait $wp")
      assert.are.equal(130, status, out)
      assert.matches("Tracing blocked time (us) by kernel stack... Hit Ctrl-C to end.", out, 1, true)
      local total = 0
      -- a waker's name may hold spaces (a JVM's "C2 CompilerThre")
      for stack, usecs in out:gmatch("    target:          python3\n(.-)    waker: +[^\n]+\n        (%d+)\n") do
        -- woken directly (try_to_wake_up) or through another CPU's wake list (ttwu_do_activate)
        assert.is_truthy(stack:find("try_to_wake_up", 1, true) or stack:find("ttwu_do_activate", 1, true), stack)
        total = total + tonumber(usecs)
      end
      assert.is_true(total >= 1600000 and total < 2400000, out)
      assert.matches("\nDetaching...\n", out, 1, true)
    end)

    it("offcputime.lua -K -p shows where a process sleeps and for how long", function()
      local sleeper = "python3 -c 'import time; [time.sleep(0.2) for i in range(8)]'"
      local out, status = h.run_script(gated(fifo, sleeper) ..
        "bpflua scripts/offcputime.lua -K -m 100000 -p $wp", "Hit Ctrl-C", "echo go > " .. fifo .. "; wait $wp")
      assert.are.equal(130, status, out)
      assert.matches("Tracing off%-CPU time %(us%) of PID %d+ by kernel stack%.%.%. Hit Ctrl%-C to end%.", out)
      -- eight sleeps of 200 ms, 1.6 s in all (more on a loaded machine: late wake-ups); a
      -- stack the kernel could not store (a hash collision) prints as missed, with its time
      local total, named = 0, false
      for stack, usecs in out:gmatch("\n(    [^\n]+\n.-)    %-                python3 %(%d+%)\n        (%d+)\n") do
        total = total + tonumber(usecs)
        named = named or stack:find("    __schedule\n", 1, true) ~= nil and stack:find("do_nanosleep", 1, true) ~= nil
      end
      assert.is_true(named, out)
      assert.is_true(total >= 1600000 and total < 2400000, out)
    end)
  end)
end)
