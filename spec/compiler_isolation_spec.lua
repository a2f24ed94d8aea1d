-- The compiler runs in a child process per compile: what kills Clang or LLVM (a crash, an
-- abort, a fatal error, a hang, a full disk) is a Lua error, and the process that asked, with
-- every probe it attached, goes on. Each compile is independent of the last.
local ffi = require("ffi")
local BPF = require("bpflua")
local h = require("spec.helpers")

ffi.cdef[[
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
]]

-- Runs fn with environment variables set in this process (the compiler's child inherits
-- them), restoring them after.
local function with_env(vars, fn)
  local saved = {}
  for k, v in pairs(vars) do
    saved[k] = os.getenv(k)
    ffi.C.setenv(k, v, 1)
  end
  local ok, err = pcall(fn)
  for k in pairs(vars) do
    if saved[k] then ffi.C.setenv(k, saved[k], 1) else ffi.C.unsetenv(k) end
  end
  assert(ok, err)
end

local function compile_error(opts)
  local ok, err = pcall(BPF.new, opts)
  assert.is_false(ok, "expected the compile to fail")
  return tostring(err)
end

-- This process's open file descriptors and live children: a compile leaves neither behind.
local function open_fds()
  -- Files that Lua code opened and dropped close when collected.
  collectgarbage()
  collectgarbage()
  local n = 0
  for _ in require("lfs").dir("/proc/self/fd") do
    n = n + 1
  end
  return n
end

local function children()
  local f = io.open("/proc/" .. h.getpid() .. "/task/" .. h.getpid() .. "/children")
  local s = f:read("*a")
  f:close()
  return s
end

-- A counter on getpriority(0, who) for this process, attached for the whole spec: it must
-- still count after every failure.
local counter, who
local function assert_probe_alive()
  local before = counter["counts"]:get(0)
  h.getpriority(who)
  assert.are.equal(before + 1, counter["counts"]:get(0))
end

local function assert_compiles()
  local b = BPF{text = "int ok_" .. h.unique() .. "(void *ctx) { return 0; }"}
  assert.is_false(b.cache_hit)
  b:cleanup()
end

describe("the compiler's process", function()
  local fds_before

  setup(function()
    assert(h.require_bpf())
    who = 70000 + math.random(1000)
    counter = BPF{text = [[
      BPF_ARRAY(counts, u64, 1);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        counts.increment(0);
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    fds_before = open_fds()
  end)

  teardown(function()
    counter:cleanup()
  end)

  after_each(function()
    -- No zombie, no child still running, no descriptor left open.
    assert.are.equal("", children())
    assert.are.equal(fds_before, open_fds())
    assert_probe_alive()
  end)

  it("compiles two programs with the same CO-RE access one after the other", function()
    -- In one LLVM, the second of these crashed the BPF backend (transformGEPChain).
    for _, access in ipairs{"BPF_CORE_READ(t, pid)", "__builtin_preserve_access_index(t->pid)"} do
      for i = 1, 2 do
        local b = BPF{text = [[
          #include <linux/sched.h>
          int core_]] .. h.unique() .. [[(void *ctx) {
            struct task_struct *t = (struct task_struct *)bpf_get_current_task();
            return ]] .. access .. [[ + ]] .. i .. [[;
          }
        ]]}
        assert.is_false(b.cache_hit)
        b:cleanup()
      end
    end
    for i = 1, 2 do
      local b = BPF{text = "#include <uapi/linux/ptrace.h>\nint regs_" .. h.unique() ..
        "(struct pt_regs *ctx) { return PT_REGS_PARM1(ctx) + " .. i .. "; }\n"}
      b:cleanup()
    end
  end)

  it("keeps LLVM out of this process even on a miss", function()
    assert_compiles()
    local maps = io.open("/proc/self/maps"):read("*a")
    assert.is_nil(maps:find("libbpflua-clang", 1, true))
  end)

  it("is not started on a cache hit", function()
    local src = "int hit_" .. h.unique() .. "(void *ctx) { return 0; }"
    BPF{text = src}:cleanup()
    -- A compiler's process would crash here; a hit never starts one.
    with_env({BPFLUA_COMPILER_CRASH_FOR_TEST = "segv"}, function()
      local b = BPF{text = src}
      assert.is_true(b.cache_hit)
      b:cleanup()
    end)
  end)

  it("compiles the same text twice after a backend error", function()
    -- (g is static, as helpers must be, kept out of line and called with values the optimizer
    -- cannot fold in, so that the backend sees a call with six arguments.)
    local src = "static __attribute__((__noinline__))\n" ..
      "int g(int a, int b, int c, int d, int e, int f) { return a + b + c + d + e + f; }\n" ..
      "int h_" .. h.unique() .. "(void *ctx) { int x = (long)ctx; return g(x, x + 1, x + 2, x + 3, x + 4, x + 5); }\n"
    for _ = 1, 2 do
      local err = compile_error{text = src}
      assert.matches("<text>:2:5: error: defined with too many args", err, 1, true)
    end
    assert_compiles()
  end)

  it("turns a stack overflow on a deep expression into an error", function()
    local err = compile_error{text = "int deep_" .. h.unique() .. "(void *ctx) { return " ..
      string.rep("1+", 200000) .. "1; }\n"}
    assert.matches("compiling <text>: bpflua's compiler crashed (SIGSEGV: Segmentation fault); " ..
      "this process is unaffected", err, 1, true)
    assert_compiles()
  end)

  it("reports a crash, an abort and a fatal LLVM error by what they were", function()
    local expect = {
      segv = "bpflua's compiler crashed (SIGSEGV: Segmentation fault)",
      abort = "bpflua's compiler crashed (SIGABRT: Aborted)",
      fatal = "bpflua's compiler stopped on a fatal error:\nLLVM ERROR: a fatal error for the test",
    }
    for how, message in pairs(expect) do
      with_env({BPFLUA_COMPILER_CRASH_FOR_TEST = how}, function()
        local err = compile_error{text = "int crash_" .. h.unique() .. "(void *ctx) { return 0; }"}
        assert.matches(message, err, 1, true)
      end)
    end
    assert_compiles()
  end)

  it("stops a compile that hangs at the time-out", function()
    with_env({BPFLUA_COMPILER_CRASH_FOR_TEST = "hang", BPFLUA_COMPILE_TIMEOUT = "0.5"}, function()
      local err = compile_error{text = "int hang_" .. h.unique() .. "(void *ctx) { return 0; }"}
      assert.matches("bpflua's compiler did not finish within 0.5 s and was stopped " ..
        "(BPFLUA_COMPILE_TIMEOUT sets the limit in seconds)", err, 1, true)
    end)
    assert_compiles()
  end)

  it("refuses to #include a FIFO at once", function()
    local dir = h.tmpdir()
    os.execute("mkfifo " .. dir .. "/fifo.h")
    local err = compile_error{text = '#include "fifo.h"\nint fifo_' .. h.unique() ..
      '(void *ctx) { return 0; }\n', cflags = {"-I" .. dir}}
    assert.matches("<text>:1:10: error: cannot open file '" .. dir .. "/fifo.h': not a regular file",
      err, 1, true)
    os.execute("rm -rf " .. dir)
  end)

  it("ends the compile on Ctrl-C in the host with an interrupted error", function()
    local script = os.tmpname()
    h.write_file(script, [[
      local BPF = require("bpflua")
      local ok, err = pcall(BPF.new, {text = "int ctrl_c_]] .. h.unique() .. [[(void *ctx) { return 0; }"})
      io.stderr:write("result: ", tostring(err), "\n")
    ]])
    -- The host's own Ctrl-C handler runs: SIGINT goes to the host alone, as kill(1) sends it,
    -- once its compiler's child exists.
    local out = h.run([[
      BPFLUA_COMPILER_CRASH_FOR_TEST=hang bpflua ]] .. script .. [[ 2>&1 & pid=$!
      for i in $(seq 1 400); do
        child=$(cat /proc/$pid/task/$pid/children 2>/dev/null)
        [ -n "$child" ] && break; sleep 0.05
      done
      kill -INT $pid; wait $pid; echo "status=$?"
      [ -n "$child" ] && [ ! -e /proc/$child ] && echo "child gone"
    ]])
    os.remove(script)
    assert.matches("result: [^\n]*interrupted", out)
    assert.matches("status=0", out, 1, true) -- the script caught it: its own status
    assert.matches("child gone", out, 1, true)
  end)

  -- Runs a compile in a host whose cache is a tmpfs of the given size; returns its output and
  -- what is left in the cache.
  local function compile_on_tmpfs(size)
    local dir = h.tmpdir()
    assert.are.equal(0, select(3, h.run("mount -t tmpfs -o size=" .. size .. ",mode=0700 tmpfs " .. dir)))
    local script = os.tmpname()
    h.write_file(script, [[
      local BPF = require("bpflua")
      -- A program with an error: its compile needs the prelude (a first compile otherwise
      -- goes without it, and leaves building it to the background).
      local ok, err = pcall(BPF.new, {text = "int full_]] .. h.unique() .. [[(void *ctx) { return no_such_name; }"})
      print(ok, err)
      print("alive")
    ]])
    local out, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua " .. script)
    local left = h.run("cd " .. dir .. " && find . -mindepth 1")
    h.run("umount " .. dir)
    os.remove(script)
    os.execute("rm -rf " .. dir)
    assert.are.equal(0, status, err)
    assert.matches("alive\n", out, 1, true)
    -- Nothing half-written is left: no work directory, no PCH, no temporary vmlinux.h.
    assert.is_nil(left:find("work-", 1, true))
    assert.is_nil(left:find(".pch", 1, true))
    assert.is_nil(left:find(".tmp", 1, true))
    return out, dir, left
  end

  it("survives a full disk under the PCH and leaves no temporaries", function()
    -- Room for vmlinux.h (~3 MB), not for the PCH (~15 MB).
    local out, dir, left = compile_on_tmpfs("5m")
    assert.matches("false\tprecompiling bpflua's prelude (" .. dir .. "/prelude-", out, 1, true)
    assert.matches("LLVM ERROR: IO failure on output stream: No space left on device", out, 1, true)
    assert.matches("/vmlinux.h\n", left, 1, true)
  end)

  it("survives a full disk under vmlinux.h", function()
    local out, dir = compile_on_tmpfs("1m")
    assert.matches("false\tcannot write " .. dir .. "/kernel-", out, 1, true)
    assert.matches("/vmlinux.h: No space left on device", out, 1, true)
  end)
end)
