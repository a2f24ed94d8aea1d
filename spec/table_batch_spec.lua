-- Whole-table reads in batches (BPF_MAP_LOOKUP_BATCH): maps filled by a BPF program read back
-- exactly, through batches (counted by t.read_calls), and the same through the one-key-at-a-
-- time walk that map types without batch reads fall back to.
local ffi = require("ffi")
local h = require("spec.helpers")

-- Each getpriority(MAGIC) call with which = c writes the entries c * PER_CALL ..
-- (c + 1) * PER_CALL - 1 into every table: key k gets the value k * 3 + 1.
local MAGIC, PER_CALL = 424242, 256

local decls = [[
  struct key_t { u32 id; char tag[4]; };
  struct leaf_t { u64 total; u32 id; };
  BPF_HASH(hash, u32, u64, 8192);
  BPF_PERCPU_HASH(pcpu_hash, u32, u64, 8192);
  BPF_LRU_HASH(lru, u32, u64, 16384);
  BPF_ARRAY(array, u64, 4096);
  BPF_PERCPU_ARRAY(pcpu_array, u64, 4096);
  BPF_HASH(by_struct, struct key_t, struct leaf_t, 8192);
  BPF_HASH(small, u32, u64, 64);
]]

local body = [[
  if (args->who != MAGIC) return 0;
  u32 base = args->which * PER_CALL;
  for (u32 i = 0; i < PER_CALL; i++) {
    u32 k = base + i;
    u64 v = (u64)k * 3 + 1;
    hash.update(&k, &v);
    pcpu_hash.update(&k, &v);
    lru.update(&k, &v);
    array.update(&k, &v);
    pcpu_array.update(&k, &v);
    struct key_t sk = {};
    sk.id = k;
    __builtin_memcpy(sk.tag, "bat", 4);
    struct leaf_t leaf = {};
    leaf.total = v;
    leaf.id = k;
    by_struct.update(&sk, &leaf);
    if (k < 64) small.update(&k, &v);
  }
]]

local function fill(entries)
  for call = 0, entries / PER_CALL - 1 do
    h.getpriority(MAGIC, call)
  end
end

-- Every entry of t as {[key] = value}, per-CPU values summed; checks each key is seen once.
local function read_all(t, key_of)
  local seen, n = {}, 0
  for k, v in t:items() do
    local key = key_of and key_of(k) or k
    assert(seen[key] == nil, "key " .. tostring(key) .. " read twice")
    if type(v) == "table" then
      local sum = 0
      for _, x in ipairs(v) do sum = sum + x end
      v = sum
    end
    seen[key], n = v, n + 1
  end
  return seen, n
end

local function expected(entries)
  local want = {}
  for k = 0, entries - 1 do
    want[k] = k * 3 + 1
  end
  return want
end

describe("tables read in batches #kernel", function()
  local b
  local ENTRIES = 4096
  local ncpus = require("bpflua.cdefs").libbpf_num_possible_cpus()

  setup(function()
    assert(h.require_bpf())
    b = h.probe(decls, body, {"-DMAGIC=" .. MAGIC, "-DPER_CALL=" .. PER_CALL})
    fill(ENTRIES)
  end)

  teardown(function()
    if b then
      b:cleanup()
    end
  end)

  for _, name in ipairs({"hash", "pcpu_hash", "lru", "array", "pcpu_array"}) do
    it("read every entry of '" .. name .. "', written by BPF, in batches and one by one alike",
      function()
        local t = b[name]
        t.batch_size = 256
        local calls = t.read_calls.lookup_batch
        local got, n = read_all(t)
        assert.are.equal(ENTRIES, n)
        assert.are.same(expected(ENTRIES), got)
        -- 4096 entries in batches of at most 256: at least 16 reads, and no single-key walk.
        assert.is_true(t.read_calls.lookup_batch - calls >= ENTRIES / 256)
        assert.are.equal(0, t.read_calls.get_next_key)
        assert.are.equal(ENTRIES, t:len())

        t.use_batch = false
        calls = t.read_calls.lookup_batch
        local slow, slow_n = read_all(t)
        assert.are.equal(ENTRIES, slow_n)
        assert.are.same(got, slow)
        assert.are.equal(calls, t.read_calls.lookup_batch)
        assert.are.equal(ENTRIES + 1, t.read_calls.get_next_key)
        t.use_batch = true
      end)
  end

  it("keep each CPU's value of a per-CPU map, one per possible CPU", function()
    local t = b["pcpu_hash"]
    for k, v in t:items() do
      assert.are.equal(ncpus, #v)
      local nonzero = 0
      for _, x in ipairs(v) do
        if x ~= 0 then
          nonzero = nonzero + 1
          assert.are.equal(k * 3 + 1, x)
        end
      end
      -- Written once, by the BPF program on one CPU.
      assert.are.equal(1, nonzero)
    end
    local fast = {}
    for k, v in t:items() do fast[k] = v end
    t.use_batch = false
    local slow = {}
    for k, v in t:items() do slow[k] = v end
    t.use_batch = true
    assert.are.same(slow, fast)
  end)

  it("give struct keys and values the caller may keep", function()
    local t = b["by_struct"]
    local keys, leaves = {}, {}
    for k, v in t:items() do
      keys[#keys + 1], leaves[#leaves + 1] = k, v
    end
    assert.are.equal(ENTRIES, #keys)
    assert.is_true(t.read_calls.lookup_batch > 0)
    assert.are.equal(0, t.read_calls.get_next_key)
    -- Kept after the loop, each key and value is still its own entry (copies, not views of a
    -- buffer the next batch overwrote).
    local ids = {}
    for i, k in ipairs(keys) do
      assert.are.equal("bat", ffi.string(k.tag))
      assert.are.equal(k.id, leaves[i].id)
      assert.are.equal(k.id * 3 + 1, tonumber(leaves[i].total))
      ids[k.id] = true
    end
    for id = 0, ENTRIES - 1 do
      assert.is_true(ids[id], "missing id " .. id)
    end
    assert.are.equal(7 * 3 + 1, tonumber(t:get{id = 7, tag = "bat"}.total))
  end)

  it("iterate keys and values, and a loop over a table inside a loop over the same table", function()
    local t = b["hash"]
    t.batch_size = 512
    local keys, values = 0, 0
    for k in t:keys() do keys = keys + k end
    for v in t:values() do values = values + v end
    assert.are.equal(ENTRIES * (ENTRIES - 1) / 2, keys)
    assert.are.equal(3 * keys + ENTRIES, values)
    -- The inner loops read while the outer one holds the table's batch.
    local outer, inner = 0, 0
    for k in t:keys() do
      outer = outer + 1
      if k % 1024 == 0 then
        for _ in t:keys() do inner = inner + 1 end
      end
    end
    assert.are.equal(ENTRIES, outer)
    assert.are.equal(4 * ENTRIES, inner)
  end)

  it("grow the batch when a hash bucket holds more entries than it", function()
    local t = b["small"]
    -- 64 keys in a hash of 64 buckets: some bucket holds two or more, which a batch of one
    -- cannot take whole, so the kernel says ENOSPC and the batch must grow.
    t.batch_size = 1
    local got, n = read_all(t)
    assert.are.equal(64, n)
    assert.are.same(expected(64), got)
    assert.is_true(t.batch_size > 1)
    assert.are.equal(0, t.read_calls.get_next_key)
  end)

  -- #native: in the 6.1 VM, bpf_get_stackid of a kernel stack from a tracepoint program
  -- returns -EFAULT (-14; user stacks work), so the stack map stays empty there.
  it("fall back to the one-by-one walk for a map type without batch reads #native", function()
    local s = h.probe([[
      struct {
        __uint(type, BPF_MAP_TYPE_STACK_TRACE);
        __uint(max_entries, 64);
        __type(key, u32);
        __uint(value_size, 127 * 8);
      } stacks SEC(".maps");
      BPF_HASH(ids, u32, u64, 64);
    ]], [[
      if (args->who != MAGIC + 1) return 0;
      long id = bpf_get_stackid(args, &stacks, 0);
      if (id >= 0) { u32 k = id; u64 one = 1; ids.update(&k, &one); }
    ]], {"-DMAGIC=" .. MAGIC})
    h.getpriority(MAGIC + 1)
    local stacks, ids = s["stacks"], s["ids"]
    assert.are.equal(1, ids:len())
    local want = {}
    for k in ids:keys() do want[k] = true end
    local got = {}
    for k, frames in stacks:items() do
      got[k] = true
      assert.is_true(ffi.cast("uint64_t *", frames)[0] ~= 0)
    end
    assert.are.same(want, got)
    assert.is_false(stacks.use_batch)
    assert.are.equal(1, stacks.read_calls.lookup_batch)
    assert.is_true(stacks.read_calls.get_next_key > 0)
    s:cleanup()
  end)

  it("read and delete in batches, and clear in batches", function()
    local t = b["hash"]
    t.batch_size = 300
    local got, n = {}, 0
    for k, v in t:items_lookup_and_delete_batch() do
      got[k], n = v, n + 1
    end
    assert.are.equal(ENTRIES, n)
    assert.are.same(expected(ENTRIES), got)
    assert.are.equal(0, t:len())

    local lru = b["lru"]
    local calls = lru.read_calls.lookup_batch
    lru:clear()
    assert.is_true(lru.read_calls.lookup_batch > calls)
    assert.are.equal(0, lru:len())

    local array = b["array"]
    local ok, err = pcall(array.items_lookup_and_delete_batch, array)
    assert.is_false(ok)
    assert.matches("table 'array' (array) cannot be read and deleted in batches by this kernel",
      err, 1, true)
    -- The table still reads in batches afterwards.
    assert.is_true(array.use_batch)
  end)
end)
