-- Key/value tables from Lua: struct keys and values from BTF, per-CPU values, iteration,
-- clearing, and histograms printed in bcc's layout.
local ffi = require("ffi")
local h = require("spec.helpers")

local probe = h.probe

describe("tables #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("take struct keys as Lua tables and give struct values with named fields", function()
    local b = probe([[
      struct key_t { u32 which; char tag[8]; };
      struct leaf_t { u64 count; u32 last_who; u8 flag; };
      BPF_HASH(stats, struct key_t, struct leaf_t);
    ]], [[
      struct key_t k = {};
      k.which = args->which;
      __builtin_memcpy(k.tag, "spec", 5);
      struct leaf_t zero = {};
      struct leaf_t *v = stats.lookup_or_try_init(&k, &zero);
      if (v) { v->count++; v->last_who = args->who; v->flag = 1; }
    ]])
    h.getpriority(500, 1)
    h.getpriority(501, 1)
    h.getpriority(600, 2)
    local stats = b["stats"]
    local v = stats:get{which = 1, tag = "spec"}
    assert.are.equal(2, tonumber(v.count))
    assert.are.equal(501, v.last_who)
    assert.are.equal(1, v.flag)
    assert.is_nil(stats:get{which = 1, tag = "other"})
    local seen = {}
    for key, value in stats:items() do
      seen[key.which] = ffi.string(key.tag) .. ":" .. tonumber(value.count)
    end
    assert.are.same({[1] = "spec:2", [2] = "spec:1"}, seen)
    assert.are.equal(2, stats:len())
    stats:set({which = 9, tag = "lua"}, {count = 7, last_who = 1, flag = 0})
    assert.are.equal(7, tonumber(stats:get{which = 9, tag = "lua"}.count))
    stats:clear()
    assert.are.equal(0, stats:len())
    b:cleanup()
  end)

  it("give one value per possible CPU for per-CPU maps, with sum, max and average", function()
    local b = probe("BPF_PERCPU_ARRAY(hits, u64, 2);", "hits.increment(0, args->who);")
    h.getpriority(5)
    h.getpriority(7)
    local hits = b["hits"]
    local per_cpu = hits:get(0)
    local ncpus = require("bpflua.cdefs").libbpf_num_possible_cpus()
    assert.are.equal(ncpus, #per_cpu)
    assert.are.equal(12, hits:sum(0))
    assert.is_true(hits:max(0) >= 6 and hits:max(0) <= 12)
    assert.are.equal(12 / ncpus, hits:average(0))
    assert.are.equal(0, hits:sum(1))
    hits:zero()
    assert.are.equal(0, hits:sum(0))
    b:cleanup()
  end)

  it("insert, delete, increment by n, lookup and update from C", function()
    -- who carries the key in its low byte and the value above it.
    local b = probe([[
      BPF_TABLE("hash", u32, u64, kv, 64);
    ]], [[
      u32 k = args->who & 0xff;
      u64 v = args->who >> 8;
      if (args->which == 1) {
        kv.insert(&k, &v);               /* only when the key is new */
      } else if (args->which == 2) {
        kv.delete(&k);
      } else if (args->which == 3) {
        kv.increment(k, 10);
      } else if (args->which == 4) {
        u64 *p = kv.lookup(&k);
        if (p) { u64 n = *p + 1000; kv.update(&k, &n); }
      }
    ]])
    local kv = b["kv"]
    h.getpriority(7 + 256 * 1, 1)
    h.getpriority(7 + 256 * 2, 1)
    assert.are.equal(1, kv:get(7))
    h.getpriority(7, 3)
    assert.are.equal(11, kv:get(7))
    h.getpriority(8, 3)                  -- increment inserts a missing key with n
    assert.are.equal(10, kv:get(8))
    h.getpriority(7, 4)
    assert.are.equal(1011, kv:get(7))
    h.getpriority(7, 2)
    assert.is_nil(kv:get(7))
    assert.are.equal(1, kv:len())
    b:cleanup()
  end)

  it("keep an LRU hash within its size, the newest keys kept", function()
    local b = probe([[BPF_LRU_HASH(recent, u32, u64, 16);]], [[
      u32 k = args->who;
      u64 v = k * 2;
      recent.update(&k, &v);
    ]])
    for k = 1, 200 do
      h.getpriority(k)
    end
    local recent = b["recent"]
    assert.is_true(recent:len() <= 16, "len " .. recent:len())
    assert.are.equal(400, recent:get(200))
    assert.are.equal("lru_hash", recent.type)
    b:cleanup()
  end)

  it("count per CPU in a BPF_PERCPU_HASH, summed in Lua", function()
    local b = probe([[BPF_PERCPU_HASH(calls, u32, u64);]], [[
      u32 k = args->which;
      calls.increment(k);
    ]])
    for _ = 1, 25 do
      h.getpriority(1, 5)
    end
    local calls = b["calls"]
    assert.are.equal(25, calls:sum(5))
    assert.are.equal(require("bpflua.cdefs").libbpf_num_possible_cpus(), #calls:get(5))
    b:cleanup()
  end)

  it("iterate keys and values", function()
    local b = probe("BPF_HASH(by_who, u32, u64);", "by_who.increment(args->who);")
    for _, who in ipairs({3, 4, 4}) do
      h.getpriority(who)
    end
    local keys, values = {}, {}
    for k in b["by_who"]:keys() do keys[#keys + 1] = k end
    for v in b["by_who"]:values() do values[#values + 1] = v end
    table.sort(keys)
    table.sort(values)
    assert.are.same({3, 4}, keys)
    assert.are.same({1, 2}, values)
    b:cleanup()
  end)

  describe("histograms", function()
    local function lines(t, method, ...)
      local out = {}
      local args = {...}
      args[#args + 1] = nil
      local histogram = require("bpflua.histogram")
      if method == "log2" then
        histogram.print_log2_hist(t, args[1], args[2], args[3], args[4], args[5],
          function(line) out[#out + 1] = line end)
      else
        histogram.print_linear_hist(t, args[1], args[2], args[3], args[4],
          function(line) out[#out + 1] = line end)
      end
      return table.concat(out, "\n")
    end

    it("print log2 and linear histograms in bcc's layout", function()
      local b = probe("BPF_HISTOGRAM(dist);", "dist.increment(bpf_log2l(args->who));")
      for _, v in ipairs({1, 2, 3, 5, 6, 7, 100}) do
        h.getpriority(v)
      end
      assert.are.same({[1] = 1, [2] = 2, [3] = 3, [7] = 1}, b["dist"]:buckets())
      assert.are.equal(table.concat({
        "     usecs               : count     distribution",
        "         0 -> 1          : 1        |*************                           |",
        "         2 -> 3          : 2        |**************************              |",
        "         4 -> 7          : 3        |****************************************|",
        "         8 -> 15         : 0        |                                        |",
        "        16 -> 31         : 0        |                                        |",
        "        32 -> 63         : 0        |                                        |",
        "        64 -> 127        : 1        |*************                           |",
      }, "\n"), lines(b["dist"], "log2", "usecs"))
      assert.are.equal(table.concat({
        "     slot          : count     distribution",
        "        0          : 0        |                                        |",
        "        1          : 1        |*************                           |",
        "        2          : 2        |**************************              |",
        "        3          : 3        |****************************************|",
      }, "\n"), lines(b["dist"], "linear", "slot"):match("^(.-\n.-\n.-\n.-\n[^\n]*)"))
      b:cleanup()
    end)

    it("print one section per bucket of a struct key", function()
      local b = probe([[
        struct key_t { u32 bucket; u64 slot; };
        BPF_HISTOGRAM(dist, struct key_t);
      ]], [[
        struct key_t k = {};
        k.bucket = args->which;
        k.slot = bpf_log2l(args->who);
        dist.increment(k);
      ]])
      h.getpriority(2, 1)
      h.getpriority(1, 2)
      local text = lines(b["dist"], "log2", "usecs", "which", function(v) return "#" .. v end)
      assert.are.equal(table.concat({
        "",
        "which = #1",
        "     usecs               : count     distribution",
        "         0 -> 1          : 0        |                                        |",
        "         2 -> 3          : 1        |****************************************|",
        "",
        "which = #2",
        "     usecs               : count     distribution",
        "         0 -> 1          : 1        |****************************************|",
      }, "\n"), text)
      b:cleanup()
    end)
  end)
end)
