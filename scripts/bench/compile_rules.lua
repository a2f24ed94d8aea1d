-- What bcc's rules cost a compile (warm prelude PCH, cache miss): a typical tracing program
-- compiled three ways in the same run, alternating, each round's text new so nothing is
-- cached:
--   implicit  bcc-style C: probe arguments after ctx, task->real_parent->tgid (the rules edit
--             it, so it is parsed twice: the rules' pass, then code generation)
--   explicit  the same program with explicit reads (BPF_CORE_READ): the rules find nothing
--             to edit, and code generation runs in the rules' pass
--   baseline  (with BASELINE_CLANG_LIB=path/to/libbpflua-clang.so of a build without the
--             rules, e.g. main's) the explicit program through that compiler
--
--   sudo luajit scripts/bench/compile_rules.lua [rounds]
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

ffi.cdef[[
int setenv(const char *name, const char *value, int overwrite);
]]

local rounds = tonumber(arg[1]) or 15 -- (arg[1] is --child in a compile's own process)

local implicit = [[
#include <net/sock.h>
struct event { u32 pid, ppid; u16 family; char comm[16]; };
BPF_RINGBUF_OUTPUT(events, 8);
BPF_HASH(seen, u32, u64);
int kprobe__tcp_v4_connect(struct pt_regs *ctx, struct sock *sk) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct event e = {};
  e.pid = task->tgid;
  e.ppid = task->real_parent->tgid;
  e.family = sk->__sk_common.skc_family;
  bpf_get_current_comm(&e.comm, sizeof(e.comm));
  seen.increment(e.pid);
  events.ringbuf_output(&e, sizeof(e), 0);
  return 0;
}
]]

local explicit = [[
#include <net/sock.h>
struct event { u32 pid, ppid; u16 family; char comm[16]; };
BPF_RINGBUF_OUTPUT(events, 8);
BPF_HASH(seen, u32, u64);
int kprobe__tcp_v4_connect(struct pt_regs *ctx) {
  struct sock *sk = (struct sock *)PT_REGS_PARM1(ctx);
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct event e = {};
  e.pid = BPF_CORE_READ(task, tgid);
  e.ppid = BPF_CORE_READ(task, real_parent, tgid);
  e.family = BPF_CORE_READ(sk, __sk_common.skc_family);
  bpf_get_current_comm(&e.comm, sizeof(e.comm));
  seen.increment(e.pid);
  events.ringbuf_output(&e, sizeof(e), 0);
  return 0;
}
]]

-- One compile, in a process of its own (as compiles run: LLVM keeps state between compiles
-- in one process), timed around bpflua_compile; prints the milliseconds.
local function compile_once(source, tag)
  source = source .. "// " .. tag .. "\n"
  local opts = ffi.new("struct bpflua_compile_opts", {
    source = source, source_len = #source, source_name = "<bench>", ncflags = 0})
  local err = ffi.new("char *[1]")
  local t0 = bench.now_ms()
  local compiled = lib.bpflua_compile(opts, err)
  local ms = bench.now_ms() - t0
  assert(compiled ~= nil, err[0] ~= nil and ffi.string(err[0]))
  assert(compiled.cache_hit == 0, "expected a cache miss")
  lib.bpflua_compiled_free(compiled)
  return ms
end

if arg[1] == "--child" then
  print(compile_once(arg[2] == "implicit" and implicit or explicit, arg[3]))
  os.exit(0)
end

local counter = 0
local function compile_ms(case)
  counter = counter + 1
  local tag = string.format("round%d.%d", counter, os.time())
  local p = assert(io.popen(string.format("BPFLUA_CLANG_LIB='%s' luajit '%s' --child %s %s",
    case.plugin, arg[0], case.source, tag)))
  local out = p:read("*a")
  p:close()
  return assert(tonumber(out), "the compile failed: " .. out)
end

local ours = os.getenv("BPFLUA_CLANG_LIB") or ""
local baseline = os.getenv("BASELINE_CLANG_LIB")
local cases = {
  {name = "implicit", plugin = ours, source = "implicit"},
  {name = "explicit", plugin = ours, source = "explicit"},
}
if baseline then
  cases[#cases + 1] = {name = "baseline", plugin = baseline, source = "explicit"}
end

-- Warm each compiler's PCH and the page cache first.
for _, c in ipairs(cases) do
  compile_ms(c)
  c.times = {}
end
for _ = 1, rounds do
  for _, c in ipairs(cases) do
    c.times[#c.times + 1] = compile_ms(c)
  end
end
for _, c in ipairs(cases) do
  print(string.format("%-9s median %6.1f ms over %d compiles (cache miss, warm PCH)", c.name,
    bench.median(c.times), rounds))
end
