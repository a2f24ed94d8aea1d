-- scripts/trace.lua and scripts/argdist.lua: bcc's probe languages against a workload of this
-- spec's own, a C program calling malloc with known sizes a known number of times, getpid,
-- and open on known paths. It waits on a FIFO, so that its pid is known before the tool
-- starts and it acts only once the tool is tracing; the tools filter by that pid. (A shell
-- waiting for it before exec would be traced too: bash mallocs.)
local h = require("spec.helpers")
local spec = require("bpflua.probe_spec")

local WORKLOAD = [[
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
void *keep[64];
int main(int argc, char **argv) {
  int n = 0, i;
  char go;
  /* Blocks until the spec releases it, with the loader's and the shell's work done. */
  int gate = open(argv[3], O_RDONLY);
  if (gate < 0 || read(gate, &go, 1) != 1) return 1;
  for (i = 0; i < 5; i++) keep[n++] = malloc(24);
  for (i = 0; i < 3; i++) keep[n++] = malloc(1000);
  for (i = 0; i < 4; i++) keep[n++] = malloc(8);
  for (i = 0; i < 2; i++) getpid();
  for (i = 0; i < 2; i++) open(argv[1], O_RDONLY);
  open(argv[2], O_RDONLY);
  return 0;
}
]]

local rows_after = h.rows_after

local function count_matching(rows, pattern)
  local n = 0
  for _, row in ipairs(rows) do
    if row:find(pattern) then
      n = n + 1
    end
  end
  return n
end

-- The last report of argdist's output: from the last "[HH:MM:SS]" line on.
local function last_report(text)
  local start
  for s in text:gmatch("()%[%d%d:%d%d:%d%d%]\n") do
    start = s
  end
  return start and text:sub(start):gsub("bpflua: interrupted\n$", "") or ""
end

describe("trace and argdist", function()
  local dir = h.tmpdir()
  local workload = dir .. "/workload"
  local fifo = dir .. "/fifo"
  local path_a, path_b = dir .. "/file-a", dir .. "/file-b"
  local escaped_dir = dir:gsub("%p", "%%%0")

  setup(function()
    assert(h.require_bpf())
    h.write_file(dir .. "/workload.c", WORKLOAD)
    local _, err, status = h.run("cc -O0 -o " .. workload .. " " .. dir .. "/workload.c")
    assert.are.equal(0, status, err)
  end)

  teardown(function()
    os.execute("rm -rf " .. dir)
  end)

  -- Runs tool (its arguments may use $wp, the workload's pid) until ready shows in its
  -- output, then releases the workload; returns the output and status.
  local function run(tool, ready)
    if not tool:find("^argdist") then
      tool = "trace.lua " .. tool
    end
    local command = string.format(
      "rm -f %s; mkfifo %s; %s %s %s %s & wp=$!; bpflua scripts/%s",
      fifo, fifo, workload, path_a, path_b, fifo, tool)
    return h.run_script(command, ready, "echo go > " .. fifo .. "; sleep 0.3")
  end

  describe("probe_spec", function()
    it("parses trace's probe, signature, filter and format", function()
      local p = spec.parse_trace('p:c:malloc(size_t size) (size > 16) "%d bytes, %s", size, f(a, b)')
      assert.are.same({"p", "c", "malloc", "(size > 16)", "%s bytes, %s"},
        {p.type, p.library, p.func, p.filter, p.format})
      assert.are.same({{type = "size_t", name = "size", user = false}}, p.params)
      assert.are.same({"d", "s"}, p.types)
      assert.are.same({"size", "f(a, b)"}, p.values)
      local t = spec.parse_trace('t:syscalls:sys_enter_openat "%s", args->filename')
      assert.are.same({"t", "syscalls", "sys_enter_openat"}, {t.type, t.category, t.event})
      local k = spec.parse_trace("do_sys_open")
      assert.are.same({"p", "", "do_sys_open"}, {k.type, k.library, k.func})
      local l = spec.parse_trace("c:malloc+0x10")
      assert.are.same({"p", "c", "malloc", 16}, {l.type, l.library, l.func, l.offset})
    end)

    it("parses argdist's specifier with types, expressions, filter and label", function()
      local p = spec.parse_argdist("p:c:write(int fd, const char *buf, size_t n):int,size_t:fd,n:fd==1#writes", "freq")
      assert.are.same({"p", "c", "write", "fd==1", "writes"}, {p.type, p.library, p.func, p.filter, p.label})
      assert.are.same({"int", "size_t"}, p.expr_types)
      assert.are.same({"fd", "n"}, p.exprs)
      assert.are.equal("const char *", p.params[2].type)
      local r = spec.parse_argdist("r:c:read()", "hist")
      assert.are.same({true, {"int"}, {"$retval"}}, {r.default_expr, r.expr_types, r.exprs})
    end)

    it("rewrites arguments, retval and the $ aliases as whole words only", function()
      local p = spec.parse_trace("p:c:f")
      assert.are.equal("PT_REGS_PARM1(ctx) + PT_REGS_RC(ctx) + arg10 + my_retval",
        spec.rewrite(p, "arg1 + retval + arg10 + my_retval"))
      assert.matches("bpf_get_current_pid_tgid() >> 32", spec.rewrite(p, "$tgid"), 1, true)
      assert.are.equal("PT_REGS_PARM2(ctx)", spec.rewrite(p, "arg2@user"))
      local kernel = spec.parse_trace('p::do_sys_openat2 "%s", arg2@user')
      assert.matches("if (__s && bpf_probe_read_user_str(",
        spec.read_string(kernel, "d", "PT_REGS_PARM2(ctx)", true), 1, true)
      assert.matches("if (__s && bpf_probe_read_kernel_str(",
        spec.read_string(kernel, "d", "PT_REGS_PARM2(ctx)"), 1, true)
    end)

    it("names the probe and the problem in its errors", function()
      local cases = {
        {"x:c:malloc", "probe type must be"},
        {'p:c:malloc (size > 1', "unmatched end of predicate"},
        {'p:c:malloc "%d %d", arg1', "2 specifiers but 1 arguments"},
        {'p:c:malloc "%q", arg1', "unrecognized format specifier"},
        {'p:c:malloc arg1', 'expected format string in "s'},
        {"t:sched:sched_switch(int x)", "can't have a function signature"},
      }
      for _, c in ipairs(cases) do
        local ok, err = pcall(spec.parse_trace, c[1])
        assert.is_false(ok, c[1])
        assert.matches("error in probe '" .. c[1]:gsub("%p", "%%%0") .. "'", err)
        assert.matches(c[2], err, 1, true)
      end
      local argdist_cases = {
        {"p:c", "freq", "at least the probe type, library, and function"},
        {"p:c:malloc(size_t size):size_t", "freq", "a type needs an expression"},
        {"p:c:malloc(size_t size):int,int:size", "freq", "mismatched # of exprs and types"},
        {"p:c:malloc(size_t size):int,int:size,size", "hist", "histograms can only have 1 expr"},
        {"p:c:malloc()", "hist", "histograms must have expr"},
        {"q:c:malloc()", "freq", "probe type must be"},
      }
      for _, c in ipairs(argdist_cases) do
        local ok, err = pcall(spec.parse_argdist, c[1], c[2])
        assert.is_false(ok, c[1])
        assert.matches(c[3], err, 1, true)
      end
    end)
  end)

  describe("trace.lua", function()
    it("prints a row per filtered uprobe call with the declared argument", function()
      local text, status = run([['p:c:malloc(size_t size) (size > 16) "%d", size' -p $wp]], "FUNC")
      assert.are.equal(130, status, text)
      assert.matches("PID     TID     COMM            FUNC             -\n", text, 1, true)
      local rows = rows_after(text, "FUNC")
      assert.are.equal(8, #rows, text)
      assert.are.equal(5, count_matching(rows, "^%d+ +%d+ +workload +malloc +24$"), text)
      assert.are.equal(3, count_matching(rows, "^%d+ +%d+ +workload +malloc +1000$"), text)
    end)

    it("reads arg1 and retval, and prints an empty column for probes without a format", function()
      local text = run([['p:c:malloc (arg1 == 1000) "size=%lu", arg1' 'r:c:getpid' -p $wp]], "FUNC")
      local rows = rows_after(text, "FUNC")
      assert.are.equal(3, count_matching(rows, "workload +malloc +size=1000$"), text)
      assert.are.equal(2, count_matching(rows, "workload +getpid +$"), text)
      local ret = run([['r:c:getpid "%d", retval' -p $wp]], "FUNC")
      local pid = ret:match("\n(%d+) ")
      assert.are.equal(2, count_matching(rows_after(ret, "FUNC"), "getpid +" .. tostring(pid) .. "$"), ret)
    end)

    it("prints tracepoint fields as strings, with STRCMP filters, -M and -T", function()
      local text, status = run([[-T 't:syscalls:sys_enter_openat "%s", args->filename' -p $wp]], "FUNC")
      assert.are.equal(130, status, text)
      assert.matches("TIME     PID     TID     COMM            FUNC             -\n", text, 1, true)
      local rows = rows_after(text, "FUNC")
      assert.are.equal(2, count_matching(rows, "^%d%d:%d%d:%d%d +%d+ +%d+ +workload +sys_enter_openat +" ..
        escaped_dir .. "/file%-a$"), text)
      assert.are.equal(1, count_matching(rows, "sys_enter_openat +" .. escaped_dir .. "/file%-b$"), text)
      local strcmp = string.format([['t:syscalls:sys_enter_openat (STRCMP("%s", args->filename)) "%%s", args->filename' -p $wp]],
        path_b)
      local only_b = rows_after(run(strcmp, "FUNC"), "FUNC")
      assert.are.equal(1, #only_b, table.concat(only_b, "\n"))
      local limited, limited_status = run([[-M 2 't:syscalls:sys_enter_openat (STRCMP("]] .. path_a ..
        [[", args->filename))' -p $wp]], "FUNC")
      assert.are.equal(0, limited_status, limited)
      assert.are.equal(2, #rows_after(limited, "FUNC"), limited)
    end)

    it("-A with -M counts identical lines, -C and -t add their columns", function()
      local text = run([[-A -M 3 'p:c:malloc (arg1 == 1000) "%d", arg1' -p $wp]], "FUNC")
      assert.matches("%d+ +%d+ +workload +malloc +1000\n%-%->COUNT 3\n", text)
      local cols = run([[-t -C 'p:c:malloc (arg1 == 24) "%d", arg1' -p $wp]], "FUNC")
      assert.matches("TIME     CPU PID     TID     COMM            FUNC             -\n", cols, 1, true)
      assert.are.equal(5, count_matching(rows_after(cols, "FUNC"), "^%d+%.%d+ +%d+ +%d+ +%d+ +workload +malloc +24$"), cols)
    end)

    it("-v prints the program; bad probes and options are one message and status 1", function()
      local out = run([[-v 'p:c:malloc(size_t size) (size > 16) "%d", size' -p $wp]], "FUNC")
      assert.matches("size_t size = (size_t)PT_REGS_PARM1(ctx);", out, 1, true)
      assert.matches("if (!((size > 16))) return 0;", out, 1, true)
      local _, err, bad = h.run([[bpflua scripts/trace.lua 'p:c:malloc "%d"']])
      assert.are.equal(1, bad)
      assert.matches("error in probe 'p:c:malloc \"%d\"': the format has 1 specifiers but 0 arguments", err, 1, true)
      local _, err2, bad2 = h.run([[bpflua scripts/trace.lua 'p:c:no_such_function_xyz']])
      assert.are.equal(1, bad2)
      assert.matches("no_such_function_xyz", err2, 1, true)
      local _, err3, bad3 = h.run([[bpflua scripts/trace.lua 'u:c:no_such_usdt_probe']])
      assert.are.equal(1, bad3)
      assert.matches("error in probe 'u:c:no_such_usdt_probe': enable_probe: no USDT probe 'no_such_usdt_probe'",
        err3, 1, true)
      local _, err4, bad4 = h.run([[bpflua scripts/trace.lua -p 1 -L 1 c:malloc]])
      assert.are.equal(1, bad4)
      assert.matches("only one of -p and -L", err4, 1, true)
    end)

    it("says plainly when a kernel function cannot be probed (no kprobes here)", function()
      if io.open("/sys/bus/event_source/devices/kprobe/type") then
        return  -- a kernel with kprobes: spec/kernel/trace_argdist_kprobes_spec.lua
      end
      local _, err, status = h.run([[bpflua scripts/trace.lua 'r::do_sys_openat2 "%d", retval']])
      assert.are.equal(1, status)
      assert.matches("error in probe 'r::do_sys_openat2 \"%d\", retval': cannot attach 'probe_1' " ..
        "to kretprobe do_sys_openat2: this kernel has no kprobes", err, 1, true)
      local _, err2, status2 = h.run([[bpflua scripts/argdist.lua -C 'p::__x64_sys_getpriority(int which, int who):int:who']])
      assert.are.equal(1, status2)
      assert.matches("this kernel has no kprobes", err2, 1, true)
    end)

    it("-h shows the usage, the options and the probe language", function()
      local out, _, status = h.run("bpflua scripts/trace.lua -h")
      assert.are.equal(0, status)
      assert.matches("usage: trace.lua [-h] [-b BUFFER_PAGES] [-p PID] [-L TID]", out, 1, true)
      for _, line in ipairs({"-Z STRING_SIZE, --string-size STRING_SIZE",
                             "-M MAX_EVENTS, --max-events MAX_EVENTS",
                             "-I header, --include header", "-c CGROUP_PATH, --cgroup-path CGROUP_PATH",
                             "not supported", "t:category:event", "u:library:probe", "$tgid"}) do
        assert.matches(line, out, 1, true)
      end
    end)
  end)

  describe("argdist.lua", function()
    it("counts argument values with a filter (-C), as bcc prints them", function()
      local spec_text = "p:c:malloc(size_t size):size_t:size:size>16"
      local text, status = run("argdist.lua -c -i 1 -p $wp -C '" .. spec_text .. "'", "]")
      assert.are.equal(130, status, text)
      local report = last_report(text)
      assert.matches("^%[%d%d:%d%d:%d%d%]\n" .. spec_text:gsub("%p", "%%%0") ..
        "\n\tCOUNT      EVENT\n\t3          size = 1000\n\t5          size = 24\n$", report)
    end)

    it("counts several expressions, labels, default counts, -T and $COMM", function()
      local text = run("argdist.lua -c -p $wp -T 1 -C 'p:c:malloc(size_t size):size_t,u64:size,$PID#sizes' " ..
        "-C 'p:c:getpid()#getpid calls' -C 'r:c:getpid()' " ..
        "-C 't:syscalls:sys_enter_openat():char*,char*:$COMM,args->filename:" ..
        "STRCMP(\"" .. path_a .. "\", args->filename)'", "]")
      local report = last_report(text)
      assert.matches("sizes\n\tCOUNT      EVENT\n\t5          size = 24, $PID = %d+\n", report)
      assert.not_matches("size = 1000", report)
      assert.matches("getpid calls\n\tCOUNT      EVENT\n\t2          total calls\n", report)
      assert.matches("r:c:getpid%(%)\n\tCOUNT      EVENT\n\t2          retval = %d+\n", report)
      assert.matches("\t2          %$COMM = workload, args%->filename = " .. escaped_dir .. "/file%-a\n", report)
      assert.are.equal(report:match("%$PID = (%d+)"), report:match("retval = (%d+)"))
    end)

    it("prints log2 histograms (-H) of values and return values", function()
      local text = run("argdist.lua -c -p $wp -H 'p:c:malloc(size_t size):size_t:size:size>16#malloc sizes' " ..
        "-H 'r:c:malloc(size_t size):u64:$entry(size):$entry(size)>16'", "]")
      local report = last_report(text)
      assert.matches("     malloc sizes        : count     distribution\n", report, 1, true)
      assert.matches("        16 -> 31         : 5        |", report, 1, true)
      assert.matches("       512 -> 1023       : 3        |", report, 1, true)
      assert.matches("     size                : count     distribution\n", report, 1, true)
    end)

    it("-h shows the specifier syntax; bad specifiers are one message and status 1", function()
      local out, _, status = h.run("bpflua scripts/argdist.lua -h")
      assert.are.equal(0, status)
      assert.matches("usage: argdist.lua [-h] [-p PID]", out, 1, true)
      assert.matches("{p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]",
        out, 1, true)
      local _, err, bad = h.run("bpflua scripts/argdist.lua -C 'p:c:malloc(size_t size):int,int:size'")
      assert.are.equal(1, bad)
      assert.matches("mismatched # of exprs and types", err, 1, true)
      local _, err2, bad2 = h.run("bpflua scripts/argdist.lua")
      assert.are.equal(1, bad2)
      assert.matches("at least one specifier is required", err2, 1, true)
    end)
  end)

  describe("USDT probes (u:)", function()
    local probes

    setup(function()
      probes = require("spec.usdt.build").probes() .. "/probes"
    end)

    -- Runs tool until ready, then spec/usdt/probes firing each of its probes `times` times
    -- (iteration i passes values made from i).
    local function with_probes(tool, ready, times)
      return h.run_script("bpflua scripts/" .. tool, ready,
        string.format("echo 'go %d' | %s > /dev/null", times, probes))
    end

    it("trace prints a USDT probe's arguments, filtered, by its name or provider:name", function()
      local text, status = with_probes("trace.lua " ..
        "'u:" .. probes .. ":registers (arg3 < -100000) \"%d %u %d %llu\", arg1, arg2, arg3, arg4' " ..
        "'u:" .. probes .. ":bpflua_test:memory \"local=%d global=%d\", arg1, arg2'", "FUNC", 3)
      assert.are.equal(130, status, text)
      local rows = rows_after(text, "FUNC")
      -- registers(s8 = -i-1, u16 = 60000+i, s32 = -100000-i, u64 = 2^32+i); the filter drops i = 0
      assert.are.equal(2, count_matching(rows, "probes +registers +"), text)
      assert.are.equal(1, count_matching(rows, "registers +%-2 60001 %-100001 4294967297$"), text)
      assert.are.equal(1, count_matching(rows, "registers +%-3 60002 %-100002 4294967298$"), text)
      assert.are.equal(3, count_matching(rows, "memory +local=%-4%d global=100%d$"), text)
      assert.are.equal(1, count_matching(rows, "memory +local=%-44 global=1002$"), text)
    end)

    it("trace -p takes u::probe from the process's own binaries", function()
      local gate = dir .. "/usdt-gate"
      local text, status = h.run_script(string.format(
        "rm -f %s; mkfifo %s; %s < %s > /dev/null & wp=$!; exec 3>%s; " ..
        "bpflua scripts/trace.lua -p $wp 'u::guarded \"i=%%d\", arg1'", gate, gate, probes, gate, gate),
        "FUNC", "echo 'go 2' >&3")
      assert.are.equal(130, status, text)
      local rows = rows_after(text, "FUNC")
      assert.are.equal(2, count_matching(rows, "probes +guarded +i=[01]$"), text)
      local _, err, bad = h.run("bpflua scripts/trace.lua 'u::guarded'")
      assert.are.equal(1, bad)
      assert.matches("a USDT probe with no library needs -p PID", err, 1, true)
    end)

    it("argdist counts (-C) and histograms (-H) USDT arguments", function()
      local count = "u:" .. probes .. ":registers():u64:arg4"
      local text, status = with_probes("argdist.lua -c -i 1 -C '" .. count .. "' " ..
        "-H 'u:" .. probes .. ":memory():s64:arg3#table values'", "]", 4)
      assert.are.equal(130, status, text)
      local report = last_report(text)
      assert.matches(count:gsub("%p", "%%%0") .. "\n\tCOUNT      EVENT\n" ..
        "\t1          arg4 = 4294967296\n\t1          arg4 = 4294967297\n" ..
        "\t1          arg4 = 4294967298\n\t1          arg4 = 4294967299\n", report)
      -- table[i & 7] = 7000 + i: four values in 4096 -> 8191
      assert.matches("     table values        : count     distribution\n", report, 1, true)
      assert.matches("      4096 -> 8191       : 4        |", report, 1, true)
    end)
  end)
end)
