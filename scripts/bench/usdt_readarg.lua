-- USDT argument reads: what bpflua's generic bpf_usdt_readarg (a spec looked up by the
-- uprobe's cookie, the registers copied from the context) costs per probe firing, against
-- C generated for the probe's own argument locations (direct loads from the context, as bcc
-- generates per probe) and against no probe at all, in the same run. The workload is
-- spec/usdt/probes.c's "registers" probe (four register arguments of four sizes), fired N
-- times a round by the traced program itself.
--   bpflua scripts/bench/usdt_readarg.lua [firings] [rounds]     (as root)
local BPF = require("bpflua")
local usdt = require("bpflua.usdt")

local firings = tonumber(arg[1]) or 100000
local rounds = tonumber(arg[2]) or 9
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local bench = dofile(here .. "/bench.lua")
package.path = here .. "/../../?.lua;" .. package.path
local build = require("spec.usdt.build")
local Child = require("spec.usdt.child")

local dir = build.probes()
local probe
for _, p in ipairs(BPF.usdt_probes(dir .. "/probes")) do
  if p.name == "registers" then probe = p end
end

-- The C a per-probe generator writes for these locations: a load from the context at each
-- register's offset, narrowed and widened as N@ says.
local function direct_reads()
  local lines = {}
  for i, text in ipairs(probe.args) do
    local a = usdt.parse_arg(text)
    assert(a.kind == "reg", "the registers probe passes registers")
    local ctype = (a.signed and "s" or "u") .. (a.size * 8)
    lines[#lines + 1] = string.format("sum += (s64)(%s)(*(u64 *)((char *)ctx + %d) >> %d); /* arg %d: %s */",
      ctype, a.base, a.shift or 0, i, text)
  end
  return table.concat(lines, "\n      ")
end

local SOURCE = [[
  BPF_ARRAY(total, s64, 1);
  int generic(struct pt_regs *ctx) {
    s8 a = 0; u16 b = 0; s32 c = 0; u64 d = 0;
    bpf_usdt_readarg(1, ctx, &a);
    bpf_usdt_readarg(2, ctx, &b);
    bpf_usdt_readarg(3, ctx, &c);
    bpf_usdt_readarg(4, ctx, &d);
    total.atomic_increment(0, a + b + c + d);
    return 0;
  }
  int direct(struct pt_regs *ctx) {
    s64 sum = 0;
    DIRECT_READS
    total.atomic_increment(0, sum);
    return 0;
  }
]]

local child = Child.start(dir .. "/probes")
local pid = tonumber(child:wait_for("^ready (%d+)"))

-- Wall time of one round of firings, in ns per firing.
local function round()
  local start = bench.now_ns()
  child:send("go " .. firings)
  child:wait_for("^done")
  return (bench.now_ns() - start) / firings
end

-- The modes: a name and what attaches them (nil: nothing).
local modes = {
  {"no probe attached"},
  {"bpflua bpf_usdt_readarg (generic, by cookie)", function()
    local u = BPF.USDT{pid = pid}
    u:enable_probe{probe = "bpflua_test:registers", fn_name = "generic"}
    return BPF{text = SOURCE, cflags = {"-DDIRECT_READS="}, usdt_contexts = {u}}
  end},
  {"C generated for the location (bcc's way)", function()
    local text = SOURCE:gsub("int generic.-\n  }\n", ""):gsub("DIRECT_READS", direct_reads())
    local u = BPF.USDT{pid = pid}
    u:enable_probe{probe = "bpflua_test:registers", fn_name = "direct"}
    return BPF{text = text, usdt_contexts = {u}}
  end},
}

-- Rounds interleave the modes (attach, fire, detach), so that the machine's drift (it is
-- shared) falls on all of them alike; both probes attach the same way (a uprobe with the
-- semaphore and a cookie), so they differ only in how they read the arguments.
local times, sums = {}, {}
for i = 1, #modes do times[i] = {} end
for r = 0, rounds do
  for i, mode in ipairs(modes) do
    local b = mode[2] and mode[2]()
    local ns = round()
    if r > 0 then -- round 0 warms up
      table.insert(times[i], ns)
    end
    if b then
      sums[i] = (sums[i] or 0) + b.total:get(0)
      b:cleanup()
    end
  end
end
child:close()

print(string.format("USDT probe with 4 register arguments, %d firings x %d rounds (median ns per firing)",
  firings, rounds))
local base = bench.median(times[1])
for i, mode in ipairs(modes) do
  local ns = bench.median(times[i])
  print(string.format("  %-46s %8.1f ns  (+%.1f)%s", mode[1], ns, ns - base,
    sums[i] and ("  checksum " .. string.format("%.0f", sums[i])) or ""))
end
