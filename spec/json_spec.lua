-- JSON through lua-cjson: t:to_json() of real tables filled by this process's getpriority()
-- calls, histograms as bcc's print_json_hist, biolatency's -j, exact 64-bit numbers, and the
-- error when lua-cjson is missing.
local cjson = require("cjson")
local h = require("spec.helpers")

local probe = h.probe

local env = os.getenv

-- The lines fn writes with print.
local function captured(fn)
  local lines, print_ = {}, _G.print
  _G.print = function(line) lines[#lines + 1] = line end
  local ok, err = pcall(fn)
  _G.print = print_
  assert(ok, err)
  return lines
end

-- bcc's log2 buckets (its _get_json_hist) for counts {[slot] = n}: interval i is
-- [2^(i-1), 2^i - 1], the first starting at 0, up to the highest slot counted.
local function bcc_buckets(counts, highest)
  local data = {}
  for i = 1, highest do
    data[i] = {["interval-start"] = i == 1 and 0 or 2 ^ (i - 1), ["interval-end"] = 2 ^ i - 1,
               count = counts[i] or 0}
  end
  return data
end

describe("JSON #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("writes a table's entries with struct keys and values as objects, char arrays as text", function()
    local b = probe([[
      struct key_t { u32 pid; char comm[16]; };
      struct leaf_t { u64 calls; u64 bytes; u16 sizes[3]; };
      BPF_HASH(stats, struct key_t, struct leaf_t);
    ]], [[
      struct key_t k = {.pid = args->who};
      __builtin_memcpy(k.comm, "bash", 5);
      struct leaf_t zero = {};
      struct leaf_t *v = stats.lookup_or_try_init(&k, &zero);
      if (v) { v->calls++; v->bytes += args->which; v->sizes[1] = 7; }
    ]])
    h.getpriority(11, 100)
    h.getpriority(11, 20)
    h.getpriority(12, 5)
    local text = b.stats:to_json()
    -- keys in order: key then value, struct fields as declared
    assert.are.equal('[{"key":{"pid":11,"comm":"bash"},"value":{"calls":2,"bytes":120,"sizes":[0,7,0]}},' ..
      '{"key":{"pid":12,"comm":"bash"},"value":{"calls":1,"bytes":5,"sizes":[0,7,0]}}]', text)
    local decoded = cjson.decode(text)
    assert.are.same({
      {key = {pid = 11, comm = "bash"}, value = {calls = 2, bytes = 120, sizes = {0, 7, 0}}},
      {key = {pid = 12, comm = "bash"}, value = {calls = 1, bytes = 5, sizes = {0, 7, 0}}},
    }, decoded)
    b:cleanup()
  end)

  it("writes numbers exactly up to 2^64, per-CPU values as lists, an empty table as []", function()
    local b = probe([[
      BPF_HASH(big, u32, u64);
      BPF_HASH(signed_values, u32, s64);
      BPF_PERCPU_HASH(per_cpu, u32, u64);
      BPF_HASH(empty, u32, u64);
    ]], [[
      u32 who = args->who;
      u64 v = 0xfffffffffffffff0ULL + args->which;
      big.update(&who, &v);
      s64 s = -123456789012345678LL - args->which;
      signed_values.update(&who, &s);
      per_cpu.increment(who, args->which);
    ]])
    h.getpriority(1, 5)
    h.getpriority(2, 7)
    local text = b.big:to_json()
    assert.matches('{"key":1,"value":18446744073709551605}', text, 1, true)
    assert.matches('"value":18446744073709551607', text, 1, true)
    assert.matches('"value":-123456789012345685', b.signed_values:to_json(), 1, true)
    b.big[3] = 123456789012345
    assert.matches('{"key":3,"value":123456789012345}', b.big:to_json(), 1, true)
    local per_cpu = cjson.decode(b.per_cpu:to_json())
    local ncpus = require("bpflua.cdefs").libbpf_num_possible_cpus()
    assert.are.equal(2, #per_cpu)
    assert.are.equal(2, per_cpu[1].key) -- ranked by the sum, as t:print
    assert.are.equal(ncpus, #per_cpu[1].value)
    local total = 0
    for _, n in ipairs(per_cpu[1].value) do
      total = total + n
    end
    assert.are.equal(7, total)
    assert.are.equal("[]", b.empty:to_json())
    b:cleanup()
  end)

  it("prints a log2 histogram as bcc's print_json_hist", function()
    local b = probe("BPF_HISTOGRAM(dist);", "dist.increment(bpf_log2l(args->who));")
    -- bpf_log2l: 1 -> slot 1, 2..3 -> slot 2, 4..7 -> slot 3, 100 -> slot 7
    for _, who in ipairs({1, 2, 3, 5, 100}) do
      h.getpriority(who)
    end
    local lines = captured(function() b.dist:print_json_hist("usecs") end)
    assert.are.equal(1, #lines)
    -- bcc's keys in bcc's order
    assert.matches('^{"ts":"[^"]*","val_type":"usecs","data":%[{"interval%-start":0,"interval%-end":1,"count":1},', lines[1])
    local hist = cjson.decode(lines[1])
    assert.are.equal("usecs", hist.val_type)
    assert.matches("^%d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d$", hist.ts)
    assert.are.same(bcc_buckets({[1] = 1, [2] = 2, [3] = 1, [7] = 1}, 7), hist.data)
    b.dist:clear()
    local empty = captured(function() b.dist:print_json_hist() end)
    assert.matches('"data":[]', empty[1], 1, true)
    assert.are.equal("value", cjson.decode(empty[1]).val_type)
    b:cleanup()
  end)

  it("prints a histogram with a struct key a section a line, under section_header", function()
    local b = probe([[
      struct hist_key { u32 bucket; u64 slot; };
      BPF_HISTOGRAM(dist, struct hist_key);
    ]], [[
      struct hist_key k = {.bucket = args->which, .slot = bpf_log2l(args->who)};
      dist.increment(k);
    ]])
    h.getpriority(2, 1)
    h.getpriority(2, 1)
    h.getpriority(9, 2)
    local lines = captured(function()
      b.dist:print_json_hist("bytes", "cpu", function(bucket) return "cpu" .. bucket end)
    end)
    assert.are.equal(2, #lines)
    local first, second = cjson.decode(lines[1]), cjson.decode(lines[2])
    assert.are.equal("cpu1", first.cpu)
    assert.are.same(bcc_buckets({[2] = 2}, 2), first.data)
    assert.are.equal("cpu2", second.cpu)
    assert.are.same(bcc_buckets({[4] = 1}, 4), second.data)
    b:cleanup()
  end)

  it("loads lua-cjson only when JSON is asked for, and says how to install it when missing", function()
    local lua_env = string.format("LUA_PATH=%q", env("LUA_PATH") or ";;")
    if env("LUA_CPATH") then
      lua_env = lua_env .. string.format(" LUA_CPATH=%q", env("LUA_CPATH"))
    end
    local script = [[
      local BPF = require("bpflua")
      local b = BPF{text = "BPF_HASH(counts, u32, u64);"}
      b.counts[1] = 2
      b.counts:print(nil, function() end)
      io.write(package.loaded.cjson and "loaded " or "not-loaded ")
      io.write(b.counts:to_json(), " ")
      io.write(package.loaded.cjson and "loaded" or "not-loaded")
    ]]
    local out, err, status = h.run(lua_env .. " luajit -e '" .. script .. "'")
    assert.are.equal(0, status, err)
    assert.are.equal('not-loaded [{"key":1,"value":2}] loaded', out)
    -- without lua-cjson on the module path
    local hidden = [[package.cpath = ""; package.path = package.path:gsub("[^;]*cjson[^;]*;?", "")
      local BPF = require("bpflua")
      local b = BPF{text = "BPF_HASH(counts, u32, u64);"}
      local ok, e = pcall(b.counts.to_json, b.counts)
      io.write(tostring(ok), " ", e)]]
    out, err, status = h.run(lua_env .. " luajit -e '" .. hidden .. "'")
    assert.are.equal(0, status, err)
    assert.matches("^false %(command line%):%d+: JSON output needs lua%-cjson, which is not " ..
      "installed %(Debian/Ubuntu: apt%-get install lua%-cjson; LuaRocks: luarocks install " ..
      "lua%-cjson%)", out)
  end)

  -- #native: the VM's files live on 9p and tmpfs, with no block device to read from
  it("biolatency.lua -j prints bcc's JSON histogram per disk for direct reads #native", function()
    local data = "/tmp/bpflua-json-spec-" .. h.unique()
    h.run("dd if=/dev/zero of=" .. data .. " bs=1M count=2 2>/dev/null; sync")
    -- ready once the tool holds its two links (issue and completion tracepoints)
    local out, err, status = h.run(string.format([[
      bpflua scripts/biolatency.lua -j -D > %s.out 2>%s.err & pid=$!
      for i in $(seq 1 400); do
        [ "$(ls -l /proc/$pid/fd 2>/dev/null | grep -c bpf_link)" -ge 2 ] && break; sleep 0.05
      done
      dd if=%s of=/dev/null bs=16k count=40 iflag=direct 2>/dev/null
      kill -INT $pid; wait $pid; echo "status=$?"; cat %s.out; cat %s.err >&2
      rm -f %s %s.out %s.err]], data, data, data, data, data, data, data, data))
    assert.are.equal(0, status, err)
    assert.matches("^status=130\n", out)
    local disks, total = 0, 0
    for line in out:gmatch("[^\n]+") do
      if line:sub(1, 1) == "{" then
        local hist = cjson.decode(line)
        assert.are.equal("usecs", hist.val_type)
        assert.is_string(hist.disk)
        for _, bucket in ipairs(hist.data) do
          total = total + bucket.count
        end
        disks = disks + 1
      end
    end
    assert.is_true(disks >= 1, out)
    assert.is_true(total >= 40, out)
    assert.is_nil(out:find("Tracing block device", 1, true))
  end)
end)
