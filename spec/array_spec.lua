-- Counting real tracepoint hits through BPF_ARRAY and reading them from Lua.
local BPF = require("bpflua")
local h = require("spec.helpers")

describe("BPF_ARRAY #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("counts a real tracepoint through name.increment and b[name]:get", function()
    local who = 70000 + math.random(1000)
    local b = BPF{text = [[
      BPF_ARRAY(counts, u64, 4);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        counts.increment(0);
        counts.increment(1, 10);
        int k = 2;
        u64 *v = counts.lookup(&k);
        if (v) lock_xadd(v, 3);
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    for _ = 1, 25 do
      h.getpriority(who)
    end
    h.getpriority(who + 1) -- filtered out
    assert.are.equal(25, b["counts"]:get(0))
    assert.are.equal(250, b["counts"]:get(1))
    assert.are.equal(75, b:get_table("counts"):get(2))
    assert.are.equal(0, b["counts"]:get(3))
    b:cleanup()
  end)

  it("writes from Lua with set and reads every entry with items", function()
    local b = BPF{text = [[
      BPF_ARRAY(slots, u32, 3);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        int k = 0;
        u32 *v = slots.lookup(&k);
        if (v && args->who == *v) slots.increment(1);
        return 0;
      }
    ]]}
    local slots = b["slots"]
    local who = 80000 + math.random(1000)
    slots:set(0, who)
    h.getpriority(who)
    h.getpriority(who)
    local seen = {}
    for k, v in slots:items() do
      seen[k] = v
    end
    assert.are.same({[0] = who, [1] = 2, [2] = 0}, seen)
    assert.is_nil(slots:get(7)) -- outside the array
    b:cleanup()
  end)

  it("counts per key in a BPF_HASH and a BPF_TABLE(\"hash\", ...)", function()
    local who = 90000 + math.random(1000)
    local b = BPF{text = [[
      BPF_HASH(by_which, u32, u64);
      BPF_TABLE("hash", u32, u64, by_who, 128);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who < WHO || args->who > WHO + 2) return 0;
        by_which.atomic_increment((u32)args->which);
        by_who.increment((u32)args->who);
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    h.getpriority(who, 0)
    h.getpriority(who + 2, 1)
    h.getpriority(who + 2, 1)
    assert.are.equal(1, b["by_which"]:get(0))
    assert.are.equal(2, b["by_which"]:get(1))
    assert.are.equal(1, b["by_who"]:get(who))
    assert.are.equal(2, b["by_who"]:get(who + 2))
    assert.is_nil(b["by_who"]:get(who + 1))
    assert.is_true(b["by_who"]:delete(who))
    assert.is_nil(b["by_who"]:get(who))
    b:cleanup()
  end)

  it("names the tables it has when asked for one it does not", function()
    local b = BPF{text = "BPF_ARRAY(counts, u64, 1);"}
    local ok, err = pcall(function() return b["nope"] end)
    assert.is_false(ok)
    assert.matches("no table named 'nope'", err)
    assert.matches("counts", err)
    b:cleanup()
    local ok2, err2 = pcall(function() return b["counts"] end)
    assert.is_false(ok2)
    assert.matches("cleaned up", err2)
  end)
end)
