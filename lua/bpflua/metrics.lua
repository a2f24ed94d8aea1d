-- BPF tables as Prometheus metrics. A registry holds metric declarations on tables; render()
-- reads every table at that moment (whole-table batch reads) and writes the Prometheus text
-- exposition format (version 0.0.4), or OpenMetrics 1.0 when asked.
--
--   local metrics = require("bpflua.metrics")
--   local reg = metrics.new()
--   reg:counter{table = b["calls"], name = "x_calls_total", help = "...", labels = {"pid"}}
--   reg:histogram{table = b["dist"], name = "x_latency_seconds", help = "...", scale = 1e-9}
--   io.write(reg:render())
--
-- Labels name the key's fields in order (a scalar key takes one label). Each entry is a name,
-- or {name = "label", map = function(value) ... end}: map returns the label's text, or nil to
-- drop the sample; false in place of an entry leaves that key field out. Samples whose labels
-- come out equal are added together, so leaving out a field aggregates over it.
local ffi = require("ffi")

local M = {}

M.CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
M.OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"

local TYPES = {counter = true, gauge = true, histogram = true}
local LOG2_SLOTS = 65

local Registry = {}
Registry.__index = Registry

function M.new()
  return setmetatable({metrics = {}, by_name = {}}, Registry)
end

local function check(cond, level, fmt, ...)
  if not cond then
    error(string.format(fmt, ...), level + 1)
  end
end

-- A key field's value as label text: integers in decimal (64-bit ones exactly), char
-- arrays as the string they hold.
local function field_text(v)
  if type(v) == "cdata" then
    local ctype = tostring(ffi.typeof(v))
    if ctype:find("char%s*%(?&?%)?%s*%[") then
      return ffi.string(v)
    elseif ctype:find("int64_t") then
      return (tostring(v):gsub("U?LL$", ""))
    end
    v = tonumber(v) or tostring(v)
  end
  if type(v) == "number" then
    -- tostring writes integers below 1e14 as digits alone, and is cheaper than format
    return (v == math.floor(v) and math.abs(v) < 1e14) and tostring(v) or string.format("%.0f", v)
  end
  return tostring(v)
end

-- The values a key offers to labels, in field order: {v} for a scalar key.
local function key_values(tbl, key)
  if type(key) ~= "cdata" or #tbl.key_fields == 0 then
    return {key}
  end
  local out = {}
  for i, field in ipairs(tbl.key_fields) do
    out[i] = key[field]
  end
  return out
end

-- A sample's value: a number, the per-CPU values added, or one field of a struct value.
local function sample_value(spec, value)
  if type(value) == "table" then
    local total = 0
    for _, v in ipairs(value) do
      total = total + sample_value(spec, v)
    end
    return total
  end
  if spec.value then
    value = value[spec.value]
  end
  local n = tonumber(value)
  if not n then
    error(string.format("metric '%s': the value of table '%s' is not a number; name a field " ..
      "with value = \"field\"", spec.name, spec.table.name), 0)
  end
  return n
end

local function normalize_labels(spec, level)
  local labels = {}
  for i, entry in ipairs(spec.labels or {}) do
    if entry == false then
      labels[i] = false
    else
      if type(entry) == "string" then
        entry = {name = entry}
      end
      check(type(entry) == "table" and type(entry.name) == "string", level,
        "metric '%s': label %d must be a name, {name = ..., map = fn} or false", spec.name, i)
      check(entry.name:match("^[%a_][%w_]*$") and not entry.name:match("^__"), level,
        "metric '%s': '%s' is not a valid label name", spec.name, entry.name)
      check(entry.map == nil or type(entry.map) == "function", level,
        "metric '%s': label '%s': map must be a function", spec.name, entry.name)
      labels[i] = entry
    end
  end
  return labels
end

-- Declares a metric; spec: table (a bpflua table object), name, help, type, labels, and for
-- counters/gauges value (a field of a struct value); for histograms kind ("log2", default,
-- or "linear"), step (linear bucket width, default 1), scale (multiplies bucket bounds and
-- the sum, e.g. 1e-9 for ns to seconds), sum (a table holding the total of observed values,
-- keyed as the histogram's labels; _sum is left out without it).
function Registry:add(spec)
  check(type(spec) == "table", 2, "metric: expected a table of options")
  check(type(spec.name) == "string" and spec.name:match("^[%a_:][%w_:]*$"), 2,
    "metric: '%s' is not a valid metric name", tostring(spec.name))
  check(TYPES[spec.type], 2, "metric '%s': type must be counter, gauge or histogram, not '%s'",
    spec.name, tostring(spec.type))
  check(type(spec.table) == "table" and spec.table.items, 2,
    "metric '%s': table must be a BPF table object (b[\"name\"])", spec.name)
  check(not self.by_name[spec.name], 2, "metric '%s' is declared twice", spec.name)
  if spec.type == "counter" then
    check(spec.name:match("_total$"), 2, "counter '%s': its name must end in _total", spec.name)
  end
  local m = {
    name = spec.name, type = spec.type, help = spec.help or spec.name, table = spec.table,
    value = spec.value, kind = spec.kind or "log2", step = spec.step or 1,
    scale = spec.scale or 1, sum = spec.sum,
  }
  m.labels = normalize_labels(spec, 2)
  if m.type == "histogram" then
    check(m.kind == "log2" or m.kind == "linear", 2,
      "histogram '%s': kind must be log2 or linear", m.name)
    for _, suffix in ipairs({"_bucket", "_count", "_sum"}) do
      check(not m.name:match(suffix .. "$"), 2, "histogram '%s': the name must not end in %s",
        m.name, suffix)
    end
  end
  self.metrics[#self.metrics + 1] = m
  self.by_name[m.name] = m
  return m
end

function Registry:counter(spec)
  spec.type = "counter"
  return self:add(spec)
end

function Registry:gauge(spec)
  spec.type = "gauge"
  return self:add(spec)
end

function Registry:histogram(spec)
  spec.type = "histogram"
  return self:add(spec)
end

local LABEL_ESCAPES = {["\\"] = "\\\\", ["\n"] = "\\n", ["\""] = "\\\""}

local function escape_label(s)
  if not s:find('[\\\n"]') then
    return s -- the common case, numbers and names: nothing to escape, no new string
  end
  return (s:gsub('[\\\n"]', LABEL_ESCAPES))
end

local function escape_help(s)
  return (s:gsub("\\", "\\\\"):gsub("\n", "\\n"))
end

local function format_number(v)
  if v ~= v then
    return "NaN"
  elseif v == math.huge then
    return "+Inf"
  elseif v == -math.huge then
    return "-Inf"
  elseif v == math.floor(v) and math.abs(v) < 2^63 then
    return string.format("%.0f", v)
  end
  -- the shortest text that reads back as the same double
  for digits = 15, 17 do
    local text = string.format("%." .. digits .. "g", v)
    if tonumber(text) == v then
      return text
    end
  end
end

-- The label set of key values: {text = '{a="1",b="x"}', pairs = {{name, value}...}}, or nil
-- when a label's map drops the sample.
local function label_set(m, values, first, last)
  local parts = {}
  for i = first, last do
    local label = m.labels[i]
    if label == nil then
      error(string.format("metric '%s': table '%s' has %d key fields; name a label for each " ..
        "(false leaves one out)", m.name, m.table.name, last), 0)
    end
    if label then
      local v = values[i]
      local text
      if label.map then
        text = label.map(type(v) == "cdata" and (tonumber(v) or field_text(v)) or v)
        if text == nil then
          return nil
        end
        text = tostring(text)
      else
        text = field_text(v)
      end
      parts[#parts + 1] = label.name .. "=\"" .. escape_label(text) .. "\""
    end
  end
  return parts
end

local function braces(parts, extra)
  if extra then
    parts = {unpack(parts)}
    parts[#parts + 1] = extra
  end
  if #parts == 0 then
    return ""
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

-- Counters and gauges: one sample per label set, equal sets added together.
local function collect_scalar(m)
  local order, totals = {}, {}
  for key, value in m.table:items() do
    local values = key_values(m.table, key)
    local parts = label_set(m, values, 1, #values)
    if parts then
      local id = braces(parts)
      if not totals[id] then
        order[#order + 1] = id
        totals[id] = 0
      end
      totals[id] = totals[id] + sample_value(m, value)
    end
  end
  -- In the table's own order: Prometheus needs none, and sorting 10,000 series doubles the
  -- cost of a scrape (scripts/bench/scrape.lua).
  return order, totals
end

-- A bucket's upper bound (as le="...": 15 significant digits, so that 9 * 0.001 reads 0.009):
-- log2 slot i holds values up to 2^i - 1 (slot 0 holds 0), as
-- bpf_log2l() files them; linear slot i holds values up to (i + 1) * step - 1.
local function upper_bound(m, slot)
  if m.kind == "log2" then
    return (2 ^ slot - 1) * m.scale
  end
  return ((slot + 1) * m.step - 1) * m.scale
end

-- Histograms: per label set (the key fields before the slot), counts by slot.
local function collect_histogram(m)
  local series, order = {}, {}
  for key, value in m.table:items() do
    local values = key_values(m.table, key)
    local nlabels = #values - 1
    local slot = tonumber(values[#values])
    local parts = label_set(m, values, 1, nlabels)
    if parts and slot then
      local id = braces(parts)
      local s = series[id]
      if not s then
        s = {parts = parts, slots = {}, max_slot = -1}
        series[id] = s
        order[#order + 1] = id
      end
      local count = sample_value(m, value)
      s.slots[slot] = (s.slots[slot] or 0) + count
      if count > 0 and slot > s.max_slot then
        s.max_slot = slot
      end
    end
  end
  table.sort(order)
  local sums
  if m.sum then
    sums = {}
    local sum_table = m.sum
    for key, value in sum_table:items() do
      local values = key_values(sum_table, key)
      local parts
      if #values == 1 and #m.labels == 0 then
        parts = {} -- a one-entry array or a scalar-keyed total of a label-less histogram
      else
        parts = label_set(m, values, 1, #values)
      end
      if parts then
        local id = braces(parts)
        sums[id] = (sums[id] or 0) + sample_value(m, value)
      end
    end
  end
  return order, series, sums
end

local function render_histogram(m, out)
  local order, series, sums = collect_histogram(m)
  for _, id in ipairs(order) do
    local s = series[id]
    local cumulative = 0
    local last = m.kind == "log2" and math.min(s.max_slot, LOG2_SLOTS - 1) or s.max_slot
    for slot = 0, last do
      cumulative = cumulative + (s.slots[slot] or 0)
      out[#out + 1] = string.format("%s_bucket%s %s", m.name,
        braces(s.parts, "le=\"" .. string.format("%.15g", upper_bound(m, slot)) .. "\""),
        format_number(cumulative))
    end
    local total = 0
    for _, c in pairs(s.slots) do
      total = total + c
    end
    out[#out + 1] = string.format("%s_bucket%s %s", m.name, braces(s.parts, "le=\"+Inf\""),
      format_number(total))
    out[#out + 1] = string.format("%s_count%s %s", m.name, id, format_number(total))
    if sums then
      out[#out + 1] = string.format("%s_sum%s %s", m.name, id,
        format_number((sums[id] or 0) * m.scale))
    end
  end
end

-- The exposition text of every metric, read from the tables now.
-- opts.openmetrics: OpenMetrics 1.0 (counter families without _total, # EOF at the end).
function Registry:render(opts)
  local openmetrics = opts and opts.openmetrics
  local out = {}
  for _, m in ipairs(self.metrics) do
    local family = m.name
    if openmetrics and m.type == "counter" then
      family = m.name:gsub("_total$", "")
    end
    out[#out + 1] = "# HELP " .. family .. " " .. escape_help(m.help)
    out[#out + 1] = "# TYPE " .. family .. " " .. m.type
    if m.type == "histogram" then
      render_histogram(m, out)
    else
      local order, totals = collect_scalar(m)
      for _, id in ipairs(order) do
        out[#out + 1] = m.name .. id .. " " .. format_number(totals[id])
      end
    end
  end
  if openmetrics then
    out[#out + 1] = "# EOF"
  end
  out[#out + 1] = ""
  return table.concat(out, "\n")
end

-- Metrics declared in a config's shape ({table = "name", name =, type =, help =, labels =,
-- ...}) on the tables of BPF object b.
function Registry:add_from_config(b, specs)
  for i, spec in ipairs(specs) do
    check(type(spec) == "table" and type(spec.table) == "string", 2,
      "metric %d: table must name one of the program's tables", i)
    local copy = {}
    for k, v in pairs(spec) do
      copy[k] = v
    end
    copy.table = b:get_table(spec.table)
    if type(spec.sum) == "string" then
      copy.sum = b:get_table(spec.sum)
    end
    self:add(copy)
  end
end

return M
