-- More of bcc's tools written for bpflua (memleak, stackcount, funclatency, funcslower,
-- oomkill, tcpretrans), each run as a user runs it against a workload this spec makes, its
-- output checked against what the workload did, and its usage line against bcc's.
local h = require("spec.helpers")

-- A C program built with frame pointers (user stacks walk them), from source text.
local function build(dir, name, source)
  h.write_file(dir .. "/" .. name .. ".c", source)
  local _, err, status = h.run("gcc -O0 -g -fno-omit-frame-pointer -o " .. dir .. "/" .. name ..
    " " .. dir .. "/" .. name .. ".c")
  assert(status == 0, err)
  return dir .. "/" .. name
end

-- Runs workload (given the fifo's path as $1 and a marker path as $2) in the background,
-- blocked on the fifo; then the tool, given the workload's pid as $wp, until it prints
-- ready (a pattern; or a number: until it, or a child of its own, holds that many perf
-- event fds, its attachments, for tools that print nothing before their events; up to a
-- minute, as a loaded machine may take);
-- then unblocks the workload, waits until it made the marker and the tool printed
-- `after` (a pattern counted) `n` more times than before; then Ctrl-C. Returns the tool's
-- output and exit status.
local function run_blocked(dir, workload, tool, ready, after, n)
  local out = dir .. "/out"
  local script = string.format([[
    rm -f %s/fifo %s/marker; mkfifo %s/fifo
    %s %s/fifo %s/marker & wp=$!
    %s > %s 2>&1 & tp=$!
    for i in $(seq 1 1200); do %s && break; sleep 0.05; done
    echo go > %s/fifo
    for i in $(seq 1 300); do [ -e %s/marker ] && break; sleep 0.05; done
    base=$(grep -c %q %s)
    for i in $(seq 1 300); do [ $(grep -c %q %s) -ge $((base + %d)) ] && break; sleep 0.05; done
    kill -INT $tp; wait $tp; echo "status=$?"
    kill $wp 2>/dev/null; wait $wp 2>/dev/null; true
  ]], dir, dir, dir, workload, dir, dir, tool, out,
    type(ready) == "string" and string.format("grep -q %q %s", ready, out) or string.format(
      "[ $(for q in $tp $(pgrep -P $tp); do ls -l /proc/$q/fd; done 2>/dev/null | grep -c 'perf_event') -ge %d ]", ready), dir, dir, after, out, after, out, n or 1)
  local result = h.run(script)
  local f = io.open(out)
  local text = f:read("*a")
  f:close()
  return text, tonumber(result:match("status=(%d+)"))
end

describe("more of bcc's tools", function()
  local dir
  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
  end)
  teardown(function()
    h.run("rm -rf " .. dir)
  end)

  describe("memleak.lua", function()
    local leak_c = [[
      #include <stdlib.h>
      #include <fcntl.h>
      #include <unistd.h>
      /* Seven blocks of 4242 bytes kept, from leak_these; twenty of 777 freed, from churn;
       * three of 1111 kept from posix_memalign, in leak_aligned. */
      __attribute__((noinline)) void *leak_these(void) { return malloc(4242); }
      __attribute__((noinline)) void churn(void) { free(malloc(777)); }
      __attribute__((noinline)) void *leak_aligned(void) {
        void *p = 0;
        return posix_memalign(&p, 64, 1111) == 0 ? p : 0;
      }
      int main(int argc, char **argv) {
        char c;
        void *keep[10];
        int fd = open(argv[1], O_RDONLY);
        read(fd, &c, 1);
        for (int i = 0; i < 7; i++) keep[i] = leak_these();
        for (int i = 0; i < 20; i++) churn();
        for (int i = 7; i < 10; i++) keep[i] = leak_aligned();
        close(open(argv[2], O_WRONLY | O_CREAT, 0644));
        pause();
        return keep[0] != 0;
      }
    ]]

    it("reports the allocations a process keeps, by the stack that made them", function()
      local leak = build(dir, "leak", leak_c)
      local text, status = run_blocked(dir, leak, "bpflua scripts/memleak.lua -p $wp -o 0 1",
        "Attaching to pid", "Top 10 stacks", 2)
      assert.are.equal(130, status, text)
      local last = text:match(".*(%[%d%d:%d%d:%d%d%] Top 10 stacks with outstanding allocations:.*)")
      -- modules by their file's name, as bcc's memleak prints them
      assert.matches("\t29694 bytes in 7 allocations from stack\n\t\t0x%x+\tleak_these%+0x%x+ %[" ..
        "leak%]\n\t\t0x%x+\tmain%+0x%x+ %[", last)
      assert.matches("\t3333 bytes in 3 allocations from stack\n\t\t0x%x+\tleak_aligned%+", last)
      assert.not_matches("churn", last, 1, true)
    end)

    it("-t prints each call; --combined-only and -z/-Z filter by size", function()
      local leak = build(dir, "leak", leak_c)
      local text, status = run_blocked(dir, leak, "bpflua scripts/memleak.lua -t -p $wp",
        "Attaching to pid", "free entered", 20)
      assert.are.equal(130, status, text)
      local _, entered = text:gsub("alloc entered, size = 777\n", "")
      assert.are.equal(20, entered, text)
      assert.matches("leak +%d+ +alloc exited, size = 4242, result = %x+\n", text)
      assert.matches("leak +%d+ +free entered, address = %x+, size = 777\n", text)
      text, status = run_blocked(dir, leak,
        "bpflua scripts/memleak.lua --combined-only -z 1000 -Z 2000 -p $wp -o 0 1",
        "Attaching to pid", "Top 10 stacks", 2)
      assert.are.equal(130, status, text)
      local last = text:match(".*(%[%d%d:%d%d:%d%d%] Top 10 stacks with outstanding allocations:.*)")
      assert.matches("\t3333 bytes in 3 allocations from stack\n", last, 1, true)
      assert.not_matches("leak_these", last, 1, true)
    end)

    it("traces the kernel's allocators through the kmem tracepoints without -p", function()
      local out, err, status = h.run("timeout 20 bpflua scripts/memleak.lua -o 0 -T 3 1 1")
      assert.are.equal(0, status, err)
      assert.matches("Attaching to kernel allocators, Ctrl+C to quit.", out, 1, true)
      assert.matches("\t%d+ bytes in %d+ allocations from stack\n\t\t0xffff%x+\t%S+%+0x%x+ %[kernel%]", out)
    end)
  end)

  local calls_c = [[
    #include <fcntl.h>
    #include <unistd.h>
    #include <time.h>
    /* Thirteen getppid() calls from ask_parent, called by ask_twice (a frame-pointer walk
     * from a libc leaf skips the leaf's caller: the stack shows ask_twice); five 20 ms
     * nanosleeps from nap. */
    __attribute__((noinline)) void ask_parent(void) { getppid(); }
    __attribute__((noinline)) void ask_twice(void) { ask_parent(); }
    __attribute__((noinline)) void nap(void) {
      struct timespec ts = {0, 20 * 1000 * 1000};
      nanosleep(&ts, 0);
    }
    int main(int argc, char **argv) {
      char c;
      int fd = open(argv[1], O_RDONLY);
      read(fd, &c, 1);
      for (int i = 0; i < 13; i++) ask_twice();
      for (int i = 0; i < 5; i++) nap();
      close(open(argv[2], O_WRONLY | O_CREAT, 0644));
      pause();
      return 0;
    }
  ]]

  describe("stackcount.lua", function()
    it("counts a tracepoint's user stacks in one process", function()
      local calls = build(dir, "calls", calls_c)
      local text, status = run_blocked(dir, calls,
        "bpflua scripts/stackcount.lua -U -p $wp t:syscalls:sys_enter_getppid", "Tracing 1 functions", "x", 0)
      assert.are.equal(130, status, text)
      assert.matches('Tracing 1 functions for "t:syscalls:sys_enter_getppid"... Hit Ctrl-C to end.', text, 1, true)
      assert.matches("\n  %S*getppid\n  ask_twice\n  main\n.-\n    13\n\nDetaching...\n", text)
    end)

    it("counts stacks of the user functions a wildcard matches, folded with -f", function()
      local leak = build(dir, "leak", [[
        #include <stdlib.h>
        #include <fcntl.h>
        #include <unistd.h>
        /* The stacks show use_heap and use_zeroed (not churn and zeroed, skipped by a
         * frame-pointer walk from a function's first instruction). */
        __attribute__((noinline)) void churn(void) { free(malloc(100)); }
        __attribute__((noinline)) void zeroed(void) { free(calloc(1, 100)); }
        __attribute__((noinline)) void use_heap(void) { for (int i = 0; i < 7; i++) churn(); }
        __attribute__((noinline)) void use_zeroed(void) { for (int i = 0; i < 4; i++) zeroed(); }
        int main(int argc, char **argv) {
          char c;
          int fd = open(argv[1], O_RDONLY);
          read(fd, &c, 1);
          use_heap();
          use_zeroed();
          close(open(argv[2], O_WRONLY | O_CREAT, 0644));
          pause();
          return 0;
        }
      ]])
      local text, status = run_blocked(dir, leak, "bpflua scripts/stackcount.lua -p $wp 'c:*alloc'",
        "Tracing", "x", 0)
      assert.are.equal(130, status, text)
      local matched = tonumber(text:match('Tracing (%d+) functions for "c:%*alloc"'))
      assert.is_true(matched >= 4, text) -- malloc, calloc, realloc, valloc at least
      assert.matches("\n  %S*malloc\n  use_heap\n  main\n.-\n    7\n", text)
      assert.matches("\n  %S*calloc\n  use_zeroed\n  main\n.-\n    4\n", text)
      text, status = run_blocked(dir, leak, "bpflua scripts/stackcount.lua -f -U -r -p $wp 'c:^(__libc_)?calloc$'",
        1, "x", 0)
      assert.are.equal(130, status, text)
      assert.matches("\nleak;.-main;use_zeroed;%S*calloc 4\n", "\n" .. text)
      assert.not_matches("Detaching", text, 1, true)
    end)

    it("counts the stacks of a binary's USDT probes (u:lib:probe), per process with -P", function()
      local text, status = h.run_script("bpflua scripts/stackcount.lua -P -U 'u:/usr/bin/python3.11:gc__*'",
        "Tracing", "/usr/bin/python3.11 -c \"import gc, os; open('" .. dir ..
        "/py-pid', 'w').write(str(os.getpid())); [gc.collect() for _ in range(5)]\"")
      assert.are.equal(130, status, text)
      assert.matches('Tracing 2 functions for "u:/usr/bin/python3.11:gc__*"... Hit Ctrl-C to end.', text, 1, true)
      local pid = io.open(dir .. "/py-pid"):read("*l")
      local total = 0
      for n in text:gmatch("\n    python3%.11 %[" .. pid .. "%]\n    (%d+)\n") do
        total = total + tonumber(n)
      end
      assert.is_true(total >= 10, text) -- gc__start and gc__done of each collect()
    end)

    it("says that kernel function patterns need kprobes where the kernel has none", function()
      if h.run("grep -qw kprobe /sys/kernel/tracing/available_tracers 2>/dev/null; ls /sys/kernel/tracing/kprobe_events 2>/dev/null") ~= "" then
        return -- a kernel with kprobes: nothing to refuse
      end
      local _, err, status = h.run("bpflua scripts/stackcount.lua 'vfs_rea*'")
      assert.are.equal(1, status, err)
      assert.matches("kernel function patterns need kprobes", err, 1, true)
    end)
  end)

  describe("funclatency.lua", function()
    it("times each call of a libc function into a histogram, per function with -F", function()
      local calls = build(dir, "calls", calls_c)
      local text, status = run_blocked(dir, calls,
        "bpflua scripts/funclatency.lua -m -p $wp c:nanosleep", "Tracing", "x", 0)
      assert.are.equal(130, status, text)
      assert.matches('Tracing 1 functions for "c:nanosleep"... Hit Ctrl-C to end.', text, 1, true)
      assert.matches("\n     msecs               : count     distribution\n", text, 1, true)
      -- 20 ms sleeps: none shorter, and all five in 16-31 ms unless the machine woke them late
      assert.are.equal(0, tonumber(text:match("\n +8 %-> 15 +: (%d+)")), text)
      local late = 0
      for lo, n in text:gmatch("\n +(%d+) %-> %d+ +: (%d+)") do
        if tonumber(lo) >= 16 then
          late = late + tonumber(n)
        end
      end
      assert.are.equal(5, late, text)
      assert.matches("\navg = %d+ msecs, total: %d+ msecs, count: 5\n\nDetaching...\n", text)
      text, status = run_blocked(dir, calls,
        "bpflua scripts/funclatency.lua -u -F -p $wp 'c:*nanosleep'", "Tracing", "x", 0)
      assert.are.equal(130, status, text)
      assert.matches("\nFunction = %S*nanosleep %[%d+%]\n     usecs               : count     distribution\n", text)
      assert.matches("count: 5\n", text, 1, true)
    end)

    it("says, in its own words and as stackcount's, that a library is not there", function()
      local _, err, status = h.run("bpflua scripts/funclatency.lua 'no_such_library_x:foo'")
      assert.are.equal(1, status, err)
      assert.are.equal("funclatency.lua: can't find library no_such_library_x\n", err)
      _, err, status = h.run("bpflua scripts/stackcount.lua 'no_such_library_x:foo'")
      assert.are.equal(1, status, err)
      assert.are.equal("stackcount.lua: unable to find library no_such_library_x\n", err)
    end)
  end)

  describe("oomkill.lua", function()
    it("prints the OOM kill of a process over its memory cgroup's limit", function()
      local cg = "/sys/fs/cgroup/memory/bpflua-oom-" .. h.unique()
      assert(h.run("mkdir " .. cg .. " && echo 33554432 > " .. cg .. "/memory.limit_in_bytes && echo ok") == "ok\n",
        "a cgroup v1 memory controller at /sys/fs/cgroup/memory")
      local text, status = h.run_script("bpflua scripts/oomkill.lua", "Tracing OOM kills",
        "sh -c 'echo $$ > " .. cg .. "/cgroup.procs; echo $$ > " .. dir .. "/victim; " ..
        "exec python3 -c \"x = bytearray(200 * 1024 * 1024)\"'")
      h.run("rmdir " .. cg)
      assert.are.equal(130, status, text)
      local victim = io.open(dir .. "/victim"):read("*l")
      assert.matches("Tracing OOM kills... Ctrl-C to stop.\n", text, 1, true)
      assert.matches("\n%d%d:%d%d:%d%d Triggered by PID " .. victim .. ' %("python3"%), OOM kill of PID ' ..
        victim .. ' %("python3"%), %d+ pages, loadavg: [%d.]+ [%d.]+ [%d.]+ %d+/%d+ %d+\n', text)
      assert.matches("  Stack trace:\n", text, 1, true)
    end)
  end)

  describe("tcpretrans.lua", function()
    -- A connection on the loopback of a network namespace of its own, whose lo goes down
    -- after connecting: the data sent is lost, and TCP retransmits it on each timeout until
    -- `done` (shell, with $NS and $PORT) holds, then stops.
    local function retransmits(tool, done)
      local ns = "bpflua-retrans-" .. h.unique()
      local port = 20000 + math.random(20000)
      local out = dir .. "/retrans-out"
      local script = string.format([[
        rm -f %s/stop %s/client-port
        ip netns add %s && ip netns exec %s ip link set lo up || exit 1
        %s > %s 2>&1 & tp=$!
        for i in $(seq 1 300); do grep -q 'Tracing retransmits' %s && break; sleep 0.05; done
        ip netns exec %s python3 -c "
import os, socket, struct, subprocess, time
s = socket.socket(); s.bind(('127.0.0.1', %d)); s.listen()
c = socket.create_connection(('127.0.0.1', %d)); a, _ = s.accept()
open('%s/client-port', 'w').write(str(c.getsockname()[1]))
subprocess.run(['ip', 'link', 'set', 'lo', 'down'], check=True)
c.send(b'x' * 100)
for i in range(300):
    if os.path.exists('%s/stop'): break
    time.sleep(0.05)
for sock in (c, a):  # close by reset: nothing left retransmitting a FIN
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0)); sock.close()
" & py=$!
        NS=%s PORT=%d; for i in $(seq 1 300); do %s && break; sleep 0.05; done
        touch %s/stop; wait $py
        kill -INT $tp; wait $tp; echo "status=$?"
        ip netns del %s
      ]], dir, dir, ns, ns, tool, out, out, ns, port, port, dir, dir, ns, port, done, dir, ns)
      local result = h.run(script)
      local text = io.open(out):read("*a")
      local client = io.open(dir .. "/client-port"):read("*l")
      return text, tonumber(result:match("status=(%d+)")), port, client
    end

    it("prints each retransmit of a connection whose packets are lost, with -s its sequence", function()
      local text, status, port, client = retransmits("bpflua scripts/tcpretrans.lua -s -4",
        "[ $(grep -c \"R> 127.0.0.1:$PORT \" " .. dir .. "/retrans-out) -ge 2 ]")
      assert.are.equal(130, status, text)
      assert.matches("TIME     PID     IP LADDR:LPORT          T> RADDR:RPORT          STATE        SEQ", text, 1, true)
      local seqs = {}
      for seq in text:gmatch("%d%d:%d%d:%d%d %-?%d+ +4  127%.0%.0%.1:" .. client .. " +R> 127%.0%.0%.1:" ..
        port .. " +ESTABLISHED +(%d+)\n") do
        seqs[#seqs + 1] = seq
      end
      assert.is_true(#seqs >= 2, text)
      assert.are.equal(seqs[1], seqs[2], text) -- the same segment, sent again
      assert.are_not.equal("0", seqs[1], text)
    end)

    it("-c counts the retransmits per flow", function()
      -- ss shows the kernel's count of the connection's retransmits, "retrans:0/N"
      local text, status, port, client = retransmits("bpflua scripts/tcpretrans.lua -c",
        "ip netns exec $NS ss -tin | grep -q 'retrans:[0-9]*/[1-9]'")
      assert.are.equal(130, status, text)
      assert.matches("\nLADDR:LPORT               RADDR:RPORT               RETRANSMITS\n", text, 1, true)
      local n = tonumber(text:match("%[127%.0%.0%.1%]#" .. client .. " +<%-> %[127%.0%.0%.1%]#" .. port .. " +(%d+)\n"))
      assert.is_true(n and n >= 1, text)
    end)
  end)

  describe("funcslower.lua", function()
    it("prints the calls slower than the threshold, with arguments and stacks", function()
      local calls = build(dir, "calls", calls_c)
      local text, status = run_blocked(dir, calls,
        "bpflua scripts/funcslower.lua -m 10 -a 2 -U -p $wp c:nanosleep c:getppid", "Tracing", "x", 0)
      assert.are.equal(130, status, text)
      assert.matches("Tracing function calls slower than 10 ms... Ctrl+C to quit.\n" ..
        "COMM           PID    LAT(ms)             RVAL FUNC ARGS\n", text, 1, true)
      local n = 0
      for lat in text:gmatch("\ncalls +%d+ +([%d.]+) +0 c:nanosleep 0x%x+ 0x0\n    %S*nanosleep\n    main\n") do
        assert.is_true(tonumber(lat) >= 20, text)
        n = n + 1
      end
      assert.are.equal(5, n, text)
      assert.not_matches("c:getppid", text, 1, true) -- fast calls are left out
      text, status = run_blocked(dir, calls, "bpflua scripts/funcslower.lua -f -U -u 15000 -p $wp c:nanosleep",
        2, "x", 0)
      assert.are.equal(130, status, text)
      local _, folded = text:gsub("calls;[^\n]*main;%S*nanosleep 1\n", "")
      assert.are.equal(5, folded, text)
    end)
  end)

  describe("funccount.lua", function()
    it("counts each function and tracepoint its wildcard patterns match", function()
      local calls = build(dir, "calls", calls_c)
      local text, status = run_blocked(dir, calls,
        "bpflua scripts/funccount.lua -p $wp 'c:*nanosleep' 't:syscalls:sys_enter_getpp*'", "Tracing", "x", 0)
      assert.are.equal(130, status, text)
      local matched = tonumber(text:match('Tracing (%d+) functions for "c:%*nanosleep t:syscalls:sys_enter_getpp%*"'))
      assert.is_true(matched >= 3, text)
      assert.matches("\nFUNC                                    COUNT\n", text, 1, true)
      assert.matches("\nc:nanosleep +5\n", text)
      assert.matches("\nsyscalls:sys_enter_getppid +13\n", text)
      assert.matches("\nDetaching...\n", text, 1, true)
      text, status = run_blocked(dir, calls, "bpflua scripts/funccount.lua -r -p $wp 'c:^(getppid|nanosleep)$'",
        "Tracing 2 functions", "x", 0)
      assert.are.equal(130, status, text)
      assert.matches("\nnanosleep +5\n", text:gsub("c:", ""))
      assert.matches("\nc:getppid +13\n", text)
    end)
  end)

  it("print bcc's usage lines with -h and refuse unknown options", function()
    for tool, usage in pairs({
      memleak = "[-p PID] [-t] [-a] [-o OLDER] [-c COMMAND] [--combined-only] [--wa-missing-free] " ..
        "[-s SAMPLE_RATE] [-T TOP] [-z MIN_SIZE] [-Z MAX_SIZE] [-O OBJ]",
      stackcount = "[-p PID] [-c CPU] [-i INTERVAL] [-D DURATION] [-T] [-r] [-s] [-P] [-K] [-U] [-v] [-d] [-f] " ..
        "[--debug] pattern",
      oomkill = "",
      funccount = "[-p PID] [-i INTERVAL] [-d DURATION] [-T] [-r] [-D] [-c CPU] pattern",
      funcslower = "[-p PID] [-m MIN_MS] [-u MIN_US] [-a ARGUMENTS] [-T] [-t] [-v] [-f] [-U] [-K] function [function ...]",
      tcpretrans = "[-s] [-l] [-c] [-4 | -6]",
      funclatency = "[-p PID] [-i INTERVAL] [-d DURATION] [-T] [-u] [-m] [-F] [-r] [-l LEVEL] [-v] pattern",
    }) do
      local out, _, status = h.run("bpflua scripts/" .. tool .. ".lua -h")
      assert.are.equal(0, status, tool)
      assert.matches("usage: " .. tool .. ".lua [-h]" .. (usage ~= "" and " " .. usage or ""), out, 1, true)
      assert.matches("[Ee][Xx][Aa][Mm][Pp][Ll][Ee][Ss]:", out)
      local _, err, bad = h.run("bpflua scripts/" .. tool .. ".lua --bogus")
      assert.are.equal(2, bad, tool)
      assert.matches("unknown option --bogus", err, 1, true)
    end
  end)
end)
