-- bpflua.metrics: tables rendered as Prometheus and OpenMetrics text, checked by promtool.
local h = require("spec.helpers")
local metrics = require("bpflua.metrics")

local probe = h.probe

-- promtool's verdict on an exposition text: true, or false and what it said.
local function promtool_check(text)
  local path = os.tmpname()
  h.write_file(path, text)
  local out, err, status = h.run("promtool check metrics < " .. path)
  os.remove(path)
  return status == 0, out .. err
end

local function sample(text, line_prefix)
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #line_prefix + 1) == line_prefix .. " " then
      return tonumber(line:sub(#line_prefix + 2))
    end
  end
end

describe("metrics", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("render counters with struct key fields as labels, char arrays as strings", function()
    local b = probe([[
      struct key_t { u32 who; char comm[16]; };
      BPF_HASH(calls, struct key_t, u64);
    ]], [[
      struct key_t k = {};
      k.who = args->who;
      bpf_get_current_comm(&k.comm, sizeof(k.comm));
      calls.increment(k);
    ]])
    for _ = 1, 7 do h.getpriority(4001) end
    for _ = 1, 3 do h.getpriority(4002) end
    local reg = metrics.new()
    reg:counter{table = b["calls"], name = "spec_calls_total", help = "calls by who",
      labels = {"who", "comm"}}
    local text = reg:render()
    assert.truthy(text:find("# HELP spec_calls_total calls by who\n# TYPE spec_calls_total counter\n", 1, true))
    assert.are.equal(7, sample(text, 'spec_calls_total{who="4001",comm="luajit"}'))
    assert.are.equal(3, sample(text, 'spec_calls_total{who="4002",comm="luajit"}'))
    assert(promtool_check(text))
    b:cleanup()
  end)

  it("map labels through functions, drop samples, and aggregate over left-out fields", function()
    local b = probe([[
      struct key_t { u32 who; u32 which; };
      BPF_HASH(calls, struct key_t, u64);
    ]], [[
      struct key_t k = {.who = args->who, .which = args->which};
      calls.increment(k);
    ]])
    h.getpriority(11, 0)
    h.getpriority(11, 1)
    h.getpriority(11, 2)
    h.getpriority(12, 0)
    h.getpriority(13, 0)
    local reg = metrics.new()
    local names = {[11] = "eleven", [12] = "twelve"}
    reg:gauge{table = b["calls"], name = "spec_by_name", help = "named",
      labels = {{name = "who", map = function(v) return names[v] end}, false}}
    local text = reg:render()
    assert.are.equal(3, sample(text, 'spec_by_name{who="eleven"}'))
    assert.are.equal(1, sample(text, 'spec_by_name{who="twelve"}'))
    assert.falsy(text:find("13", 1, true))
    assert(promtool_check(text))
    b:cleanup()
  end)

  it("escape quotes, backslashes and newlines in label values", function()
    local b = probe("BPF_HASH(calls, u32, u64);", "calls.increment(args->who);")
    h.getpriority(21)
    local reg = metrics.new()
    reg:gauge{table = b["calls"], name = "spec_escaped", help = "a \\ help\nline",
      labels = {{name = "odd", map = function() return 'a"b\\c\nd' end}}}
    local text = reg:render()
    assert.truthy(text:find('# HELP spec_escaped a \\\\ help\\nline\n', 1, true))
    assert.are.equal(1, sample(text, 'spec_escaped{odd="a\\"b\\\\c\\nd"}'))
    assert(promtool_check(text))
    b:cleanup()
  end)

  it("render log2 histograms as cumulative buckets with _count and _sum", function()
    local b = probe([[
      BPF_HISTOGRAM(dist);
      BPF_ARRAY(total, u64, 1);
    ]], [[
      dist.increment(bpf_log2l(args->who));
      total.increment(0, args->who);
    ]])
    -- 1 lands in slot 1 (le 1), 2 and 3 in slot 2 (le 3), 100 in slot 7 (le 127)
    for _, v in ipairs({1, 2, 3, 100}) do h.getpriority(v) end
    local reg = metrics.new()
    reg:histogram{table = b["dist"], name = "spec_value", help = "values", sum = b["total"]}
    local text = reg:render()
    assert.are.equal(0, sample(text, 'spec_value_bucket{le="0"}'))
    assert.are.equal(1, sample(text, 'spec_value_bucket{le="1"}'))
    assert.are.equal(3, sample(text, 'spec_value_bucket{le="3"}'))
    assert.are.equal(3, sample(text, 'spec_value_bucket{le="63"}'))
    assert.are.equal(4, sample(text, 'spec_value_bucket{le="127"}'))
    assert.are.equal(4, sample(text, 'spec_value_bucket{le="+Inf"}'))
    assert.are.equal(4, sample(text, "spec_value_count"))
    assert.are.equal(106, sample(text, "spec_value_sum"))
    assert(promtool_check(text))
    b:cleanup()
  end)

  it("render linear histograms with a struct {bucket, slot} key and scaled bounds", function()
    local b = probe([[
      struct key_t { u32 which; u64 slot; };
      BPF_HISTOGRAM(dist, struct key_t);
    ]], [[
      struct key_t k = {.which = args->which, .slot = args->who / 10};
      dist.increment(k);
    ]])
    h.getpriority(5, 1)
    h.getpriority(15, 1)
    h.getpriority(17, 1)
    h.getpriority(35, 2)
    local reg = metrics.new()
    reg:histogram{table = b["dist"], name = "spec_lin_seconds", help = "linear", kind = "linear",
      step = 10, scale = 0.001, labels = {"which"}}
    local text = reg:render()
    assert.are.equal(1, sample(text, 'spec_lin_seconds_bucket{which="1",le="0.009"}'))
    assert.are.equal(3, sample(text, 'spec_lin_seconds_bucket{which="1",le="0.019"}'))
    assert.are.equal(3, sample(text, 'spec_lin_seconds_count{which="1"}'))
    assert.are.equal(1, sample(text, 'spec_lin_seconds_bucket{which="2",le="+Inf"}'))
    assert(promtool_check(text))
    b:cleanup()
  end)

  it("render OpenMetrics with counter families and # EOF", function()
    local b = probe("BPF_ARRAY(hits, u64, 1);", "hits.increment(0);")
    h.getpriority(1)
    local reg = metrics.new()
    reg:counter{table = b["hits"], name = "spec_hits_total", help = "hits", labels = {false}}
    local text = reg:render{openmetrics = true}
    assert.truthy(text:find("# TYPE spec_hits_total counter", 1, true) == nil)
    assert.truthy(text:find("# TYPE spec_hits counter\n", 1, true))
    assert.are.equal(1, sample(text, "spec_hits_total"))
    assert.truthy(text:match("# EOF\n$"))
    b:cleanup()
  end)

  it("reject bad declarations with errors that name the metric", function()
    local b = probe("BPF_ARRAY(hits, u64, 1);", "hits.increment(0);")
    local reg = metrics.new()
    assert.has_error(function() reg:counter{table = b["hits"], name = "no_suffix"} end,
      "counter 'no_suffix': its name must end in _total")
    assert.has_error(function() reg:gauge{table = b["hits"], name = "bad-name"} end,
      "metric: 'bad-name' is not a valid metric name")
    assert.has_error(function() reg:gauge{table = b["hits"], name = "g", labels = {"le x"}} end,
      "metric 'g': 'le x' is not a valid label name")
    reg:gauge{table = b["hits"], name = "two_labels", labels = {}}
    assert.has_error(function() reg:render() end,
      "metric 'two_labels': table 'hits' has 1 key fields; name a label for each (false leaves one out)")
    b:cleanup()
  end)
end)
