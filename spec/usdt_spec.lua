-- USDT probes: decoding each argument form, listing a binary's probes, and reading real
-- arguments from spec/usdt/probes.c (a probe per form the compiler emits, a semaphore-guarded
-- probe, a probe in a shared library) and from Debian's python3.11.
local BPF = require("bpflua")
local usdt = require("bpflua.usdt")
local h = require("spec.helpers")
local Child = require("spec.usdt.child")
local build = require("spec.usdt.build")

-- struct pt_regs offsets (x86-64; arm64's user_pt_regs).
local RAX, RBX, RCX, RDX, RSI, RDI, RBP, RSP, RIP, R8, R13 = 80, 40, 88, 96, 104, 112, 32, 152, 128, 72, 16

describe("USDT argument decoding", function()
  it("decodes constants, with size and signedness from the N@ prefix", function()
    assert.are.same({kind = "const", size = 4, signed = true, offset = 5}, usdt.parse_arg("-4@$5"))
    assert.are.same({kind = "const", size = 4, signed = true, offset = -7}, usdt.parse_arg("-4@$-7"))
    assert.are.same({kind = "const", size = 1, signed = false, offset = 1}, usdt.parse_arg("1@$1"))
    assert.are.same({kind = "const", size = 8, signed = false, offset = 16}, usdt.parse_arg("8@$0x10"))
  end)

  it("decodes x86-64 registers and sub-registers", function()
    assert.are.same({kind = "reg", size = 8, signed = false, base = RDI, offset = 0}, usdt.parse_arg("8@%rdi"))
    assert.are.same({kind = "reg", size = 4, signed = true, base = RAX, offset = 0}, usdt.parse_arg("-4@%eax"))
    assert.are.same({kind = "reg", size = 1, signed = false, base = RAX, offset = 0}, usdt.parse_arg("1@%al"))
    assert.are.same({kind = "reg", size = 1, signed = false, base = RAX, offset = 0, shift = 8},
      usdt.parse_arg("1@%ah"))
    assert.are.same({kind = "reg", size = 2, signed = false, base = RSI, offset = 0}, usdt.parse_arg("2@%si"))
    assert.are.same({kind = "reg", size = 1, signed = true, base = RCX, offset = 0}, usdt.parse_arg("-1@%cl"))
    assert.are.same({kind = "reg", size = 4, signed = true, base = 64, offset = 0}, usdt.parse_arg("-4@%r9d"))
    assert.are.same({kind = "reg", size = 1, signed = false, base = RDI, offset = 0}, usdt.parse_arg("1@%dil"))
  end)

  it("decodes x86-64 memory operands", function()
    assert.are.same({kind = "mem", size = 8, signed = false, base = RBP, offset = -8},
      usdt.parse_arg("8@-8(%rbp)"))
    assert.are.same({kind = "mem", size = 4, signed = true, base = RSP, offset = 112},
      usdt.parse_arg("-4@112(%rsp)"))
    assert.are.same({kind = "mem", size = 8, signed = false, base = RAX, index = RBX, scale = 8, offset = 0},
      usdt.parse_arg("8@(%rax,%rbx,8)"))
    assert.are.same({kind = "mem", size = 8, signed = true, base = RDX, index = RCX, scale = 8, offset = 0},
      usdt.parse_arg("-8@(%rdx,%rcx,8)"))
    assert.are.same({kind = "mem", size = 2, signed = false, index = R8, scale = 4, offset = 16},
      usdt.parse_arg("2@16(,%r8,4)"))
    assert.are.same({kind = "mem", size = 8, signed = true, base = R13, index = RSI, scale = 1, offset = -3},
      usdt.parse_arg("-8@-3(%r13,%rsi)"))
  end)

  it("decodes rip-relative operands as a distance from the probe's address", function()
    local dir = build()
    local probe
    for _, p in ipairs(BPF.usdt_probes(dir .. "/probes")) do
      if p.name == "memory" then probe = p end
    end
    assert.are.equal("-8@global_value(%rip)", probe.args[2])
    local symbol = io.popen("nm " .. dir .. "/probes"):read("*a"):match("(%x+) %a global_value")
    local arg = usdt.parse_arg("-8@global_value(%rip)", "x86_64", dir .. "/probes", probe.locations[1].address)
    assert.are.same({kind = "mem", size = 8, signed = true, base = RIP,
      offset = tonumber(symbol, 16) - probe.locations[1].address}, arg)
    arg = usdt.parse_arg("8@global_value+8(%rip)", "x86_64", dir .. "/probes", 0)
    assert.are.equal(tonumber(symbol, 16) + 8, arg.offset)
    assert.has_error(function() usdt.parse_arg("8@nosuch(%rip)", "x86_64", dir .. "/probes", 0) end,
      "cannot decode USDT argument '8@nosuch(%rip)': no symbol 'nosuch' in the binary")
  end)

  it("decodes arm64 operands", function()
    assert.are.same({kind = "reg", size = 8, signed = false, base = 0, offset = 0}, usdt.parse_arg("8@x0", "arm64"))
    assert.are.same({kind = "reg", size = 4, signed = true, base = 8 * 19, offset = 0},
      usdt.parse_arg("-4@w19", "arm64"))
    assert.are.same({kind = "mem", size = 8, signed = false, base = 31 * 8, offset = 16},
      usdt.parse_arg("8@[sp, 16]", "arm64"))
    assert.are.same({kind = "mem", size = 4, signed = false, base = 8, offset = 0}, usdt.parse_arg("4@[x1]", "arm64"))
    assert.are.same({kind = "mem", size = 8, signed = true, base = 29 * 8, offset = -8},
      usdt.parse_arg("-8@[x29, -8]", "arm64"))
    assert.are.same({kind = "const", size = 4, signed = true, offset = 42}, usdt.parse_arg("-4@42", "arm64"))
  end)

  it("rejects what it cannot decode, naming the argument", function()
    assert.has_error(function() usdt.parse_arg("3@%rax") end,
      "cannot decode USDT argument '3@%rax': the size before '@' must be 1, 2, 4 or 8, or negative")
    assert.has_error(function() usdt.parse_arg("8@%xyz") end,
      "cannot decode USDT argument '8@%xyz': unknown register")
    assert.has_error(function() usdt.parse_arg("8@(%rax,%rbx,3)") end,
      "cannot decode USDT argument '8@(%rax,%rbx,3)': the scale must be 1, 2, 4 or 8")
    assert.has_error(function() usdt.parse_arg("8@[q9]", "arm64") end,
      "cannot decode USDT argument '8@[q9]': unknown base register")
  end)
end)

describe("USDT listing", function()
  it("lists a binary's probes with locations, arguments and semaphores", function()
    local dir = build()
    local by_name = {}
    for _, p in ipairs(BPF.usdt_probes(dir .. "/probes")) do
      by_name[p.provider .. ":" .. p.name] = p
    end
    assert.are.same({"-4@$5", "-4@$-7", "-8@$78187493520"}, by_name["bpflua_test:constants"].args)
    assert.are.same({"-1@%cl", "2@%si", "-4@%eax", "8@%rdx"}, by_name["bpflua_test:registers"].args)
    assert.are.equal(1, by_name["bpflua_test:guarded"].nlocations)
    local sym = io.popen("nm " .. dir .. "/probes"):read("*a"):match("(%x+) %a bpflua_test_guarded_semaphore")
    assert.are.equal(tonumber(sym, 16), by_name["bpflua_test:guarded"].semaphore)
    local lib = BPF.usdt_probes(dir .. "/libprobes.so")
    assert.are.equal(1, #lib)
    assert.are.equal("lib_probe", lib[1].name)
    assert.is_nil(lib[1].semaphore)
  end)

  it("lists Debian's python3.11 probes", function()
    local names = {}
    for _, p in ipairs(BPF.usdt_probes("/usr/bin/python3.11")) do
      names[p.name] = p
    end
    assert.is_truthy(names.gc__start and names.gc__done and names.function__entry and names.line)
    assert.is_truthy(names.gc__start.semaphore)
    assert.are.equal(1, names.gc__start.nlocations)
  end)

  it("prints the probes in the REPL with usdt(path)", function()
    local explore = require("bpflua.explore")
    local lines, print_ = {}, _G.print
    _G.print = function(s) lines[#lines + 1] = s end
    local ok, err = pcall(explore.usdt, build() .. "/probes")
    _G.print = print_
    assert(ok, err)
    local text = table.concat(lines, "\n")
    assert.matches("/probes bpflua_test:memory  1 location  semaphore 0x%x+\n  0x%x+  " ..
      "%-4@12%(%%rsp%) %-8@global_value%(%%rip%) %-8@%(%%rdx,%%rcx,8%)", text)
    assert.matches("%(4 probes%)$", text)
    assert.has_error(function() explore.usdt({}) end,
      "usdt: expected a binary's path or a pid, as in usdt(\"/usr/bin/python3\")")
  end)

  it("says what is wrong with a path", function()
    assert.has_error(function() BPF.usdt_probes("/nonexistent/binary") end,
      "usdt_probes: cannot open /nonexistent/binary: No such file or directory")
    assert.has_error(function() BPF.USDT{path = "/etc/hostname"} end,
      "USDT: /etc/hostname is not an ELF file")
  end)
end)

-- The C side: each probe's arguments as 64-bit values, last[probe * 16 + n], and how often
-- each probe fired for the child.
local PROGRAM = [[
BPF_HASH(last, u32, s64, 64);
BPF_ARRAY(fired, u64, 8);
static __always_inline int mine(void) { return (bpf_get_current_pid_tgid() >> 32) == PID; }
#define READ(probe, n, type) ({ type _v = 0; bpf_usdt_readarg(n, ctx, &_v); \
  u32 _k = (probe) * 16 + (n); s64 _s = (s64)_v; last.update(&_k, &_s); })
int on_constants(struct pt_regs *ctx) {
  if (!mine()) return 0;
  READ(0, 1, int); READ(0, 2, int); READ(0, 3, s64);
  fired.atomic_increment(0);
  return 0;
}
int on_registers(struct pt_regs *ctx) {
  if (!mine()) return 0;
  READ(1, 1, s8); READ(1, 2, u16); READ(1, 3, s32); READ(1, 4, u64);
  fired.atomic_increment(1);
  return 0;
}
int on_memory(struct pt_regs *ctx) {
  if (!mine()) return 0;
  READ(2, 1, s32); READ(2, 2, s64); READ(2, 3, s64);
  fired.atomic_increment(2);
  return 0;
}
int on_guarded(struct pt_regs *ctx) {
  if (!mine()) return 0;
  READ(3, 1, int);
  fired.atomic_increment(3);
  return 0;
}
int on_lib(struct pt_regs *ctx) {
  if (!mine()) return 0;
  READ(4, 1, int); READ(4, 2, int);
  /* No third argument: bpf_usdt_readarg says so. */
  long missing = 99;
  u32 k = 4 * 16 + 3;
  s64 err = bpf_usdt_readarg(3, ctx, &missing);
  last.update(&k, &err);
  fired.atomic_increment(4);
  return 0;
}
]]

describe("USDT probes", function()
  local dir, child, pid, semaphore

  setup(function()
    assert(h.require_bpf())
    dir = build()
  end)

  before_each(function()
    child = Child.start(dir .. "/probes")
    pid, semaphore = child:wait_for("^ready (%d+) 0x(%x+)")
    pid, semaphore = tonumber(pid), tonumber(semaphore, 16)
  end)

  after_each(function()
    child:close()
  end)

  local function semaphore_value()
    local b = Child.read_memory(pid, semaphore, 2)
    return b:byte(1) + 256 * b:byte(2)
  end

  it("reads every argument form, counts each firing, and sets the semaphore while attached", function()
    child:send("go 2")
    assert.are.equal("0", child:wait_for("^done (%d+)")) -- nobody listens: the guarded work is skipped
    assert.are.equal(0, semaphore_value())

    local u = BPF.USDT{path = dir .. "/probes"}
    u:enable_probe{probe = "constants", fn_name = "on_constants"}
    u:enable_probe{probe = "bpflua_test:registers", fn_name = "on_registers"}
    u:enable_probe{probe = "memory", fn_name = "on_memory"}
    u:enable_probe{probe = "guarded", fn_name = "on_guarded"}
    local ulib = BPF.USDT{pid = pid} -- the library, found among the process's mappings
    ulib:enable_probe{probe = "bpflua_lib:lib_probe", fn_name = "on_lib"}
    local b = BPF{text = PROGRAM, cflags = {"-DPID=" .. pid}, usdt_contexts = {u, ulib}}
    assert.are.equal(5, b:num_open_uprobes())
    assert.are.equal(1, semaphore_value())

    local n = 5
    child:send("go " .. n)
    assert.are.equal(tostring(n), child:wait_for("^done (%d+)"))
    local i = n - 1
    for probe = 0, 4 do
      assert.are.equal(n, b.fired:get(probe))
    end
    local function last(probe, arg) return b.last:get(probe * 16 + arg) end
    assert.are.same({5, -7, 0x1234567890}, {last(0, 1), last(0, 2), last(0, 3)})
    assert.are.same({-i - 1, 60000 + i, -100000 - i, 0x100000000 + i},
      {last(1, 1), last(1, 2), last(1, 3), last(1, 4)})
    assert.are.same({-42 - i, 1000 + i, 7000 + i}, {last(2, 1), last(2, 2), last(2, 3)})
    assert.are.equal(i, last(3, 1))
    assert.are.same({i, 3 * i, -2}, {last(4, 1), last(4, 2), last(4, 3)})

    b:cleanup()
    assert.are.equal(0, semaphore_value())
    child:send("go 3")
    assert.are.equal(tostring(n), child:wait_for("^done (%d+)"))
  end)

  it("attaches to every process of a path, those started later too", function()
    local u = BPF.USDT{path = dir .. "/probes"}
    u:enable_probe{probe = "guarded", fn_name = "on_guarded"}
    local b = BPF{text = PROGRAM:gsub("== PID", "!= 0"), cflags = {"-DPID=0"}, usdt_contexts = {u}}
    local later = Child.start(dir .. "/probes")
    local later_pid, later_semaphore = later:wait_for("^ready (%d+) 0x(%x+)")
    -- The kernel set the new process's semaphore as it mapped the program.
    assert.are.equal("\1\0", Child.read_memory(tonumber(later_pid), tonumber(later_semaphore, 16), 2))
    assert.are.equal(1, semaphore_value())
    later:send("go 2")
    assert.are.equal("2", later:wait_for("^done (%d+)"))
    child:send("go 3")
    assert.are.equal("3", child:wait_for("^done (%d+)"))
    assert.are.equal(5, b.fired:get(3))
    b:cleanup()
    assert.are.equal(0, semaphore_value())
    later:close()
  end)

  it("attaches to one process only when given its pid", function()
    local other = Child.start(dir .. "/probes")
    local other_pid, other_semaphore = other:wait_for("^ready (%d+) 0x(%x+)")
    other_pid, other_semaphore = tonumber(other_pid), tonumber(other_semaphore, 16)
    local u = BPF.USDT{path = dir .. "/probes", pid = pid}
    u:enable_probe{probe = "guarded", fn_name = "on_guarded"}
    local b = BPF{text = PROGRAM:gsub("== PID", "!= 0"), cflags = {"-DPID=0"}, usdt_contexts = {u}}
    -- The other process's semaphore stays 0: only the traced process pays for the probe.
    local other_sem = Child.read_memory(other_pid, other_semaphore, 2)
    assert.are.equal("\0\0", other_sem)
    assert.are.equal(1, semaphore_value())
    other:send("go 4")
    assert.are.equal("0", other:wait_for("^done (%d+)"))
    child:send("go 2")
    assert.are.equal("2", child:wait_for("^done (%d+)"))
    assert.are.equal(2, b.fired:get(3))
    b:cleanup()
    other:close()
  end)

  it("says that bpf_usdt_readarg needs usdt_contexts", function()
    local ok, err = pcall(BPF, {text = "int f(struct pt_regs *ctx) {\n" ..
      "  long v = 0;\n  bpf_usdt_readarg(1, ctx, &v);\n  return 0;\n}\n"})
    assert.is_false(ok)
    assert.matches("<text>:3:3: error: bpf_usdt_readarg needs the program " ..
      "built with BPF{usdt_contexts = {u}}", err, 1, true)
  end)

  it("fails clearly, leaving nothing attached", function()
    local u = BPF.USDT{path = dir .. "/probes"}
    assert.has_error(function() u:enable_probe{probe = "nosuch", fn_name = "f"} end,
      "enable_probe: no USDT probe 'nosuch' in " .. dir .. "/probes (it has: bpflua_test:constants, " ..
      "bpflua_test:registers, bpflua_test:memory, bpflua_test:guarded)")
    assert.has_error(function() u:enable_probe{probe = "guarded", fn = "f"} end,
      "enable_probe: unknown option 'fn' (options: probe, fn_name)")
    u:enable_probe{probe = "guarded", fn_name = "on_guarded"}
    u:enable_probe{probe = "constants", fn_name = "no_such_function"}
    local ok, err = pcall(BPF, {text = PROGRAM, cflags = {"-DPID=" .. pid}, usdt_contexts = {u}})
    assert.is_false(ok)
    assert.matches("USDT probe bpflua_test:constants: no function named 'no_such_function'", err, 1, true)
    -- The guarded probe attached before the failure was detached again.
    assert.are.equal(0, semaphore_value())
  end)
end)

describe("USDT on python3.11", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("counts gc__start and reads its generation argument", function()
    local child = Child.start("/usr/bin/python3.11 -u -c '" ..
      "import gc, os, sys\nprint(\"ready\", os.getpid())\ngc.disable()\n" ..
      "for line in sys.stdin:\n  n = int(line)\n  for i in range(n): gc.collect(i % 3)\n  print(\"done\")\n'")
    local pid = tonumber(child:wait_for("^ready (%d+)"))
    local u = BPF.USDT{pid = pid}
    u:enable_probe{probe = "python:gc__start", fn_name = "on_gc"}
    local b = BPF{text = [[
      BPF_ARRAY(generations, u64, 4);
      int on_gc(struct pt_regs *ctx) {
        int generation = -1;
        if (bpf_usdt_readarg(1, ctx, &generation) == 0 && generation >= 0 && generation < 3)
          generations.atomic_increment(generation);
        else
          generations.atomic_increment(3);
        return 0;
      }
    ]], usdt_contexts = {u}}
    child:send("7")
    child:wait_for("^done")
    assert.are.same({3, 2, 2, 0}, {b.generations:get(0), b.generations:get(1), b.generations:get(2), b.generations:get(3)})
    b:cleanup()
    child:close()
  end)
end)

-- The tools, each against a workload it must count exactly: they run as a user runs them,
-- `bpflua scripts/TOOL.lua PID`, and are stopped with Ctrl-C (SIGINT).
describe("USDT tools", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local function tool(script, args)
    return Child.start_with_pid("bpflua scripts/" .. script .. " " .. args)
  end

  -- Interrupts a tool and returns its output once it has exited.
  local function finish(t)
    t:interrupt()
    return t:close()
  end

  it("ugc.lua prints one line per Python collection, with its generation", function()
    local py = Child.start("/usr/bin/python3.11 -u -c '" ..
      "import gc, os, sys\nprint(\"ready\", os.getpid())\ngc.disable()\n" ..
      "for line in sys.stdin:\n  n = int(line)\n  for i in range(n): gc.collect(i % 3)\n  print(\"done\")\n'")
    local pid = py:wait_for("^ready (%d+)")
    local t = tool("ugc.lua", pid)
    t:wait_for("^START")
    py:send("5")
    py:wait_for("^done")
    t:wait_for("gen 1 GC") -- the events of gc.collect(1) and gc.collect(2)... arrive in order:
    t:wait_for("gen 1 GC") -- the last one is the second gen 1 collection (i = 4)
    local text = finish(t)
    py:close()
    local gens = {}
    for gen in text:gmatch("\n[%d.]+%s+[%d.]+%s+gen (%d) GC collected %d+ objects") do
      gens[#gens + 1] = tonumber(gen)
    end
    assert.are.same({0, 1, 2, 0, 1}, gens, text)
  end)

  it("uthreads.lua -l none prints each pthread_create", function()
    local py = Child.start("/usr/bin/python3.11 -u -c '" ..
      "import os, sys, threading\nprint(\"ready\", os.getpid())\n" ..
      "for line in sys.stdin:\n  for i in range(int(line)):\n" ..
      "    t = threading.Thread(target=len, args=((),)); t.start(); t.join()\n  print(\"done\")\n'")
    local pid = py:wait_for("^ready (%d+)")
    local t = tool("uthreads.lua", "-l none " .. pid)
    t:wait_for("^TIME")
    py:send("3")
    py:wait_for("^done")
    for _ = 1, 3 do t:wait_for("pthread") end
    local text = finish(t)
    py:close()
    local _, n = text:gsub("\n[%d.]+%s+" .. pid .. "%s+pthread ", "")
    assert.are.equal(3, n, text)
  end)

  describe("on Java", function()
    local classpath
    setup(function()
      classpath = build.java()
    end)

    local function jvm(flags)
      local java = Child.start("java " .. (flags or "") .. " -cp " .. classpath .. " Work")
      return java, java:wait_for("^ready (%d+)")
    end

    it("uthreads.lua prints each thread's start and stop with its name", function()
      local java, pid = jvm()
      local t = tool("uthreads.lua", pid)
      t:wait_for("^TIME")
      java:send("threads 3")
      java:wait_for("^done")
      t:wait_for("stop%s+bpflua%-worker%-2")
      local text = finish(t)
      java:close()
      local seen = {}
      for type, name in text:gmatch("R=%d+/N=%d+%s+(%a+)%s+(bpflua%-worker%-%d)") do
        seen[#seen + 1] = type .. " " .. name
      end
      assert.are.same({"start bpflua-worker-0", "stop bpflua-worker-0", "start bpflua-worker-1",
        "stop bpflua-worker-1", "start bpflua-worker-2", "stop bpflua-worker-2"}, seen, text)
    end)

    it("ugc.lua prints one line per Java collection", function()
      local java, pid = jvm()
      local t = tool("ugc.lua", pid)
      t:wait_for("^START")
      java:send("gc 3")
      java:wait_for("^done")
      for _ = 1, 3 do t:wait_for("full GC$") end
      local text = finish(t)
      java:close()
      local _, n = text:gsub("\n[%d.]+%s+[%d.]+%s+full GC", "")
      assert.are.equal(3, n, text)
    end)

    it("ucalls.lua counts method calls (-L times them)", function()
      local java, pid = jvm("-XX:+ExtendedDTraceProbes")
      local t = tool("ucalls.lua", pid)
      t:wait_for("^Tracing")
      java:send("calls 5000")
      java:wait_for("^done")
      local text = finish(t)
      assert.matches("\nWork%.tick%s+5000\n", text)

      t = tool("ucalls.lua", "-L " .. pid)
      t:wait_for("^Tracing")
      java:send("calls 300")
      java:wait_for("^done")
      text = finish(t)
      java:close()
      assert.matches("METHOD%s+# CALLS TIME %(us%)", text)
      assert.matches("\nWork%.tick%s+300%s+[%d.]+\n", text)
    end)
  end)
end)
