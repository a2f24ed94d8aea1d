-- More of bcc's tools written for bpflua (memleak, stackcount, funclatency, funcslower,
-- oomkill, tcpretrans), each run as a user runs it against a workload this spec makes, its
-- output checked against what the workload did, and its usage line against bcc's.
local h = require("spec.helpers")

local function escape(s)
  return (s:gsub("[%-%.%+%[%]%(%)%$%^%%%?%*]", "%%%0"))
end

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
-- ready; then unblocks the workload, waits until it made the marker and the tool printed
-- `after` (a pattern counted) `n` more times than before; then Ctrl-C. Returns the tool's
-- output and exit status.
local function run_blocked(dir, workload, tool, ready, after, n)
  local out = dir .. "/out"
  local script = string.format([[
    rm -f %s/fifo %s/marker; mkfifo %s/fifo
    %s %s/fifo %s/marker & wp=$!
    %s > %s 2>&1 & tp=$!
    for i in $(seq 1 300); do grep -q %q %s && break; sleep 0.05; done
    echo go > %s/fifo
    for i in $(seq 1 300); do [ -e %s/marker ] && break; sleep 0.05; done
    base=$(grep -c %q %s)
    for i in $(seq 1 300); do [ $(grep -c %q %s) -ge $((base + %d)) ] && break; sleep 0.05; done
    kill -INT $tp; wait $tp; echo "status=$?"
    kill $wp 2>/dev/null; wait $wp 2>/dev/null; true
  ]], dir, dir, dir, workload, dir, dir, tool, out, ready, out, dir, dir, after, out, after, out, n or 1)
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
      assert.matches("\t29694 bytes in 7 allocations from stack\n\t\t0x%x+\tleak_these%+0x%x+ %[" ..
        escape(leak) .. "%]\n\t\t0x%x+\tmain%+0x%x+ %[", last)
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

  it("print bcc's usage lines with -h and refuse unknown options", function()
    for tool, usage in pairs({
      memleak = "[-p PID] [-t] [-a] [-o OLDER] [-c COMMAND] [--combined-only] [--wa-missing-free] " ..
        "[-s SAMPLE_RATE] [-T TOP] [-z MIN_SIZE] [-Z MAX_SIZE] [-O OBJ]",
    }) do
      local out, _, status = h.run("bpflua scripts/" .. tool .. ".lua -h")
      assert.are.equal(0, status, tool)
      assert.matches("usage: " .. tool .. ".lua [-h] " .. usage, out, 1, true)
      assert.matches("[Ee][Xx][Aa][Mm][Pp][Ll][Ee][Ss]:", out)
      local _, err, bad = h.run("bpflua scripts/" .. tool .. ".lua --bogus")
      assert.are.equal(2, bad, tool)
      assert.matches("unknown option --bogus", err, 1, true)
    end
  end)
end)
