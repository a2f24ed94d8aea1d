-- What a bcc or bpftrace user reaches for on a first day: t[k] as bcc's b["t"][k], t:top(n),
-- t:print(), structs that print their fields, and BPF.ktime()/BPF.monotonic_time() on the
-- clock of bpf_ktime_get_ns(). Every value comes from this process's own getpriority() calls
-- (args->who, args->which) through a real BPF program.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

local probe = h.probe

-- The lines t:print(...) writes.
local function printed(t, n)
  local lines = {}
  t:print(n, function(line) lines[#lines + 1] = line end)
  return lines
end

describe("everyday tables #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  describe("BPF.ktime and BPF.monotonic_time", function()
    it("read the clock of bpf_ktime_get_ns(): a program's timestamp lies between two reads", function()
      local b = probe("BPF_HASH(stamps, u32, u64);", [[
        u32 who = args->who;
        u64 now = bpf_ktime_get_ns();
        stamps.update(&who, &now);
      ]])
      for round = 1, 3 do
        local before = BPF.ktime()
        h.getpriority(round)
        local after = BPF.ktime()
        local stamp = b.stamps[round]
        assert.is_true(before <= stamp and stamp <= after,
          string.format("%s <= %s <= %s", tostring(before), tostring(stamp), tostring(after)))
      end
      local m1 = BPF.monotonic_time()
      h.getpriority(9)
      local m2 = BPF.monotonic_time()
      assert.are.equal("number", type(m1))
      -- a double of nanoseconds: within a microsecond of the exact reading
      assert.is_true(m1 - 1000 <= b.stamps[9] and b.stamps[9] <= m2 + 1000)
      b:cleanup()
    end)
  end)

  describe("t[k]", function()
    it("reads, writes and deletes a hash's entries as bcc's b[\"t\"][k]; the program sees them", function()
      -- the program copies settings[who] into seen[who], so a write from Lua shows in the kernel
      local b = probe([[
        BPF_HASH(settings, u32, u64);
        BPF_HASH(seen, u32, u64);
        BPF_HASH(counts, u32, u64);
      ]], [[
        u32 who = args->who;
        counts.increment(who);
        u64 *v = settings.lookup(&who);
        u64 copy = v ? *v : 12345;
        seen.update(&who, &copy);
      ]])
      local settings, seen, counts = b.settings, b.seen, b.counts
      h.getpriority(7)
      h.getpriority(7)
      assert.are.equal(2, counts[7])
      assert.is_nil(counts[8])
      settings[7] = 99
      assert.are.equal(99, settings[7])
      h.getpriority(7)
      assert.are.equal(99, seen[7])
      settings[7] = nil
      assert.is_nil(settings[7])
      assert.is_nil(settings:get(7))
      h.getpriority(7)
      assert.are.equal(12345, seen[7])
      assert.are.equal(4, counts[7])
      -- deleting what is absent is no error, as t:delete
      settings[4242] = nil
      b:cleanup()
    end)

    it("takes struct keys as tables of fields or as the cdata keys items() gives", function()
      local b = probe([[
        struct key_t { u32 which; char tag[8]; };
        struct leaf_t { u64 count; u32 last_who; };
        BPF_HASH(stats, struct key_t, struct leaf_t);
      ]], [[
        struct key_t k = {};
        k.which = args->which;
        __builtin_memcpy(k.tag, "spec", 5);
        struct leaf_t zero = {};
        struct leaf_t *v = stats.lookup_or_try_init(&k, &zero);
        if (v) { v->count++; v->last_who = args->who; }
      ]])
      h.getpriority(31, 1)
      h.getpriority(32, 1)
      h.getpriority(33, 2)
      local stats = b.stats
      local v = stats[{which = 1, tag = "spec"}]
      assert.are.equal(2, tonumber(v.count))
      assert.are.equal(32, v.last_who)
      assert.is_nil(stats[{which = 1, tag = "other"}])
      for key, value in stats:items() do
        assert.are.equal(tonumber(value.count), tonumber(stats[key].count))
      end
      stats[{which = 5, tag = "lua"}] = {count = 70, last_who = 1}
      assert.are.equal(70, tonumber(stats[{which = 5, tag = "lua"}].count))
      stats[{which = 5, tag = "lua"}] = nil
      assert.are.equal(2, stats:len())
      b:cleanup()
    end)

    it("reads and writes arrays and per-CPU arrays; t[i] = nil zeroes an array's slot", function()
      local b = probe([[
        BPF_ARRAY(slots, u64, 4);
        BPF_PERCPU_ARRAY(hits, u64, 2);
        BPF_HASH(copied, u32, u64);
      ]], [[
        u32 i = args->which;
        hits.increment(i, args->who);
        u64 *v = slots.lookup(&i);
        if (v) { u64 copy = *v; copied.update(&i, &copy); }
      ]])
      local slots, hits = b.slots, b.hits
      assert.are.equal(0, slots[3])
      slots[3] = 41
      h.getpriority(5, 3)
      assert.are.equal(41, b.copied[3])
      slots[3] = nil
      assert.are.equal(0, slots[3])
      h.getpriority(6, 1)
      h.getpriority(4, 1)
      local per_cpu = hits[1]
      assert.are.equal(require("bpflua.cdefs").libbpf_num_possible_cpus(), #per_cpu)
      assert.are.equal(10, hits:sum(1))
      hits[0] = 2
      assert.are.equal(2 * #per_cpu, hits:sum(0))
      local ok, err = pcall(function() slots[4] = 1 end)
      assert.is_false(ok)
      assert.matches("tables_everyday_spec.lua:%d+: table 'slots': index 4 out of range 0..3", err)
      b:cleanup()
    end)

    it("keeps methods and fields under string keys, and rejects other keys at the caller's line", function()
      local b = probe("BPF_HASH(counts, u32, u64);", "counts.increment(args->who);")
      local counts = b.counts
      h.getpriority(3)
      assert.are.equal("counts", counts.name)
      assert.are.equal(1, counts:len())
      assert.are.equal(1, counts:get(3))
      assert.is_nil(counts.no_such_method)
      local ok, err = pcall(function() return counts[true] end)
      assert.is_false(ok)
      assert.matches("tables_everyday_spec.lua:%d+: table 'counts': a key is a number, a table " ..
        "of fields or cdata, not a boolean", err)
      ok, err = pcall(function() counts[-1] = 1 end)
      assert.is_false(ok)
      assert.matches("tables_everyday_spec.lua:%d+: table 'counts': key %-1 is not an integer", err)
      b:cleanup()
      ok, err = pcall(function() return counts[3] end)
      assert.is_false(ok)
      assert.matches("belongs to a BPF object that was cleaned up", err)
    end)

    it("stays compiled by the JIT in a lookup loop", function()
      local b = probe("BPF_ARRAY(slots, u64, 64);", "slots.increment(args->who & 63, args->which);")
      h.getpriority(5, 2)
      local slots = b.slots
      -- jit.attach reports each trace abort; a loop of t[k] must not abort
      local aborts, compiled = {}, 0
      local function on_trace(what, _, _, _, _, reason)
        if what == "abort" then
          aborts[#aborts + 1] = tostring(reason)
        elseif what == "stop" then
          compiled = compiled + 1
        end
      end
      jit.flush()
      jit.attach(on_trace, "trace")
      local sum = 0
      for i = 1, 2000 do
        sum = sum + slots[i % 64]
      end
      jit.attach(on_trace)
      assert.are.equal(32 * 2, sum) -- i % 64 == 5 for 32 of the i
      assert.are.same({}, aborts)
      assert.is_true(compiled > 0)
      b:cleanup()
    end)
  end)

  describe("t:top", function()
    it("ranks by value with ties in key order, n at most", function()
      local b = probe("BPF_HASH(counts, u32, u64);", "counts.increment(args->who, args->which);")
      h.getpriority(10, 5)
      h.getpriority(11, 9)
      h.getpriority(12, 5)
      h.getpriority(13, 1)
      h.getpriority(9, 5)
      local top = b.counts:top(4)
      local got = {}
      for i, e in ipairs(top) do
        got[i] = e.key .. "=" .. e.value
        assert.are.equal(e.value, e.total)
      end
      assert.are.same({"11=9", "9=5", "10=5", "12=5"}, got)
      assert.are.equal(5, #b.counts:top())
      assert.are.equal(0, #b.counts:top(0))
      local ok, err = pcall(b.counts.top, b.counts, -1)
      assert.is_false(ok)
      assert.matches("n is a count of entries", err)
      b:cleanup()
    end)

    it("ranks struct values by a field or a function, and per-CPU values by their sum", function()
      local b = probe([[
        struct stat_t { u64 calls; u64 bytes; };
        BPF_HASH(stats, u32, struct stat_t);
        BPF_PERCPU_HASH(per_cpu, u32, u64);
      ]], [[
        u32 who = args->who;
        struct stat_t zero = {};
        struct stat_t *s = stats.lookup_or_try_init(&who, &zero);
        if (s) { s->calls++; s->bytes += args->which; }
        per_cpu.increment(who, args->which);
      ]])
      h.getpriority(1, 100)
      h.getpriority(2, 10)
      h.getpriority(2, 10)
      h.getpriority(2, 10)
      h.getpriority(3, 50)
      local by_bytes = b.stats:top(2, "bytes")
      assert.are.same({1, 3}, {by_bytes[1].key, by_bytes[2].key})
      assert.are.equal(100, by_bytes[1].total)
      local by_calls = b.stats:top(1, "calls")
      assert.are.equal(2, by_calls[1].key)
      local by_average = b.stats:top(nil, function(_, v) return tonumber(v.bytes / v.calls) end)
      assert.are.same({1, 3, 2}, {by_average[1].key, by_average[2].key, by_average[3].key})
      local pc = b.per_cpu:top(1)
      assert.are.equal(1, pc[1].key)
      assert.are.equal(100, pc[1].total)
      assert.are.equal("table", type(pc[1].value))
      local ok, err = pcall(b.stats.top, b.stats, 2)
      assert.is_false(ok)
      assert.matches("tables_everyday_spec.lua:%d+: table 'stats': its values are not numbers", err)
      ok, err = pcall(b.stats.top, b.stats, 2, "bites")
      assert.is_false(ok)
      assert.matches("the value has no field 'bites' %(its fields: calls, bytes%)", err)
      b:cleanup()
    end)
  end)

  describe("t:print", function()
    it("writes struct keys and values as columns, text for char arrays, numbers aligned", function()
      local b = probe([[
        struct key_t { u32 pid; char comm[16]; };
        BPF_HASH(counts, struct key_t, u64);
        struct stat_t { u64 calls; char last[8]; };
        BPF_HASH(stats, u32, struct stat_t);
      ]], [[
        struct key_t k = {.pid = args->who};
        if (args->which == 1) __builtin_memcpy(k.comm, "bash", 5);
        else __builtin_memcpy(k.comm, "systemd", 8);
        counts.increment(k);
        u32 who = args->who;
        struct stat_t zero = {};
        struct stat_t *s = stats.lookup_or_try_init(&who, &zero);
        if (s) { s->calls++; __builtin_memcpy(s->last, "seen", 5); }
      ]])
      h.getpriority(1, 1)
      h.getpriority(1, 1)
      h.getpriority(1000, 2)
      h.getpriority(22, 1)
      h.getpriority(22, 1)
      h.getpriority(22, 1)
      assert.are.same({
        " pid  comm     value",
        "  22  bash         3",
        "   1  bash         2",
        "1000  systemd      1",
      }, printed(b.counts))
      assert.are.same({"pid  comm  value", " 22  bash      3"}, printed(b.counts, 1))
      assert.are.same({
        " key  calls  last",
        "   1      2  seen",
        "  22      3  seen",
        "1000      1  seen",
      }, printed(b.stats))
      b:cleanup()
    end)

    it("shows per-CPU values as their sum and the CPUs that counted, histograms as bars", function()
      local b = probe([[
        BPF_PERCPU_ARRAY(hits, u64, 2);
        BPF_HISTOGRAM(dist);
      ]], [[
        hits.increment(1, args->who);
        dist.increment(bpf_log2l(args->who));
      ]])
      h.getpriority(2)
      h.getpriority(3)
      local lines = printed(b.hits)
      assert.are.equal("key  value  per CPU", lines[1])
      assert.matches("^  1      5  cpu%d+=%d+", lines[2])
      local total = 0
      for n in lines[2]:gmatch("cpu%d+=(%d+)") do
        total = total + tonumber(n)
      end
      assert.are.equal(5, total)
      assert.are.equal("  0      0", lines[3])
      lines = printed(b.dist)
      assert.are.equal("     value               : count     distribution", lines[1])
      assert.matches("^         2 %-> 3          : 2 ", lines[3])
      b:cleanup()
    end)

    it("gives per-CPU struct values a line per CPU that wrote one", function()
      local b = probe([[
        struct stat_t { u64 calls; char tag[4]; };
        BPF_PERCPU_HASH(stats, u32, struct stat_t);
      ]], [[
        u32 who = args->who;
        struct stat_t zero = {};
        struct stat_t *s = stats.lookup_or_try_init(&who, &zero);
        if (s) { s->calls++; __builtin_memcpy(s->tag, "ok", 3); }
      ]])
      h.getpriority(8)
      h.getpriority(8)
      h.getpriority(8)
      local lines = printed(b.stats)
      assert.are.equal("key  cpu  calls  tag", lines[1])
      local calls = 0
      for i = 2, #lines do
        local cpu, n = lines[i]:match("^  8 +(%d+) +(%d+)  ok$")
        assert.is_truthy(cpu, lines[i])
        calls = calls + tonumber(n)
      end
      assert.are.equal(3, calls)
      b:cleanup()
    end)
  end)

  describe("tostring", function()
    it("shows a table's struct keys and values and a ring's events as their fields", function()
      local b = probe([[
        struct key_t { u32 pid; char comm[16]; };
        struct leaf_t { u64 count; u8 flags[2]; };
        BPF_HASH(stats, struct key_t, struct leaf_t);
        struct event { u32 who; char tag[8]; };
        BPF_RINGBUF_OUTPUT(events, 8);
      ]], [[
        struct key_t k = {.pid = args->who};
        __builtin_memcpy(k.comm, "bash", 5);
        struct leaf_t v = {.count = args->which, .flags = {1, 2}};
        stats.update(&k, &v);
        struct event e = {.who = args->who};
        __builtin_memcpy(e.tag, "ev", 3);
        events.ringbuf_output(&e, sizeof(e), 0);
      ]])
      h.getpriority(1, 5)
      for key, value in b.stats:items() do
        assert.are.equal('{pid = 1, comm = "bash"}', tostring(key))
        assert.are.equal("{count = 5, flags = {1, 2}}", tostring(value))
      end
      local shown
      b.events:open_ring_buffer(function(_, data)
        shown = {tostring(b.events:event(data)), tostring(b.events:copy(data))}
      end)
      assert.are.equal(1, b:ring_buffer_poll(1000))
      assert.are.same({'{who = 1, tag = "ev"}', '{who = 1, tag = "ev"}'}, shown)
      assert.matches("^ctype<struct bpflua_type_", tostring(b.stats.Key))
      local key_pointer = tostring(b.stats.Key):match("^ctype<(.*)>$") .. " *"
      assert.are.equal("NULL", tostring(ffi.cast(key_pointer, nil)))
      b:cleanup()
    end)
  end)
end)
