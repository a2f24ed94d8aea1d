-- Histograms printed as bcc prints them: log2 buckets from bpf_log2l() slots, linear buckets,
-- and sections for tables whose key is a struct {bucket, slot}.
local ffi = require("ffi")

local M = {}

local STARS_MAX = 40
local LOG2_SLOTS, LINEAR_SLOTS = 65, 1025

-- As many stars as val is of val_max, in width columns; "+" marks a value beyond the maximum.
local function stars(val, val_max, width)
  local n = 0
  while n <= width * val / val_max - 1 and n <= width - 1 do
    n = n + 1
  end
  local text = string.rep("*", n)
  if val > val_max then
    text = text:sub(1, -2) .. "+"
  end
  return text
end

local function highest(vals, slots)
  local idx_max, val_max = -1, 0
  for i = 0, slots - 1 do
    local v = vals[i] or 0
    if v > 0 then
      idx_max = i
    end
    if v > val_max then
      val_max = v
    end
  end
  return idx_max, val_max
end

local function print_log2(vals, val_type, strip_leading_zero, write)
  local idx_max, val_max = highest(vals, LOG2_SLOTS)
  local header, body, width
  if idx_max <= 32 then
    header, body, width = "     %-19s : count     distribution", "%10d -> %-10d : %-8d |%-" .. STARS_MAX .. "s|", STARS_MAX
  else
    width = STARS_MAX / 2
    header, body = "               %-29s : count     distribution", "%20d -> %-20d : %-8d |%-" .. width .. "s|"
  end
  if idx_max > 0 then
    write(string.format(header, val_type))
  end
  for i = 1, idx_max do
    local low, high = math.floor(2 ^ i / 2), 2 ^ i - 1
    if low == high then
      low = low - 1
    end
    local val = vals[i] or 0
    if not strip_leading_zero or val > 0 then
      strip_leading_zero = false
      write(string.format(body, low, high, val, stars(val, val_max, width)))
    end
  end
end

local function print_linear(vals, val_type, _, write)
  local idx_max, val_max = highest(vals, LINEAR_SLOTS)
  if idx_max >= 0 then
    write(string.format("     %-13s : count     distribution", val_type))
  end
  for i = 0, idx_max do
    local val = vals[i] or 0
    write(string.format("        %-10d : %-8d |%-" .. STARS_MAX .. "s|", i, val, stars(val, val_max, STARS_MAX)))
  end
end

-- The buckets of a histogram table: {[slot] = count} for an integer key, or
-- {[bucket] = {[slot] = count}} for a struct key whose first field is the bucket and second
-- the slot (as bcc reads them).
function M.buckets(t, bucket_fn)
  local sections, plain = {}, {}
  local first_field, second_field
  for key, value in t:items() do
    local count = type(value) == "table" and t:sum(key) or value
    if type(key) == "number" then
      plain[key] = (plain[key] or 0) + count
    else
      if not first_field then
        first_field, second_field = t.key_fields[1], t.key_fields[2]
        if not second_field then
          error("histogram '" .. t.name .. "': a struct key needs a bucket field and a slot field", 3)
        end
      end
      local bucket = key[first_field]
      if type(bucket) == "cdata" then
        -- char arrays (a comm, say) read as text, integers as numbers
        bucket = tonumber(bucket) or ffi.string(bucket)
      end
      if bucket_fn then
        bucket = bucket_fn(bucket)
      end
      sections[bucket] = sections[bucket] or {}
      local slot = tonumber(key[second_field])
      sections[bucket][slot] = (sections[bucket][slot] or 0) + count
    end
  end
  return first_field and sections or plain, first_field ~= nil
end

local function print_hist(t, printer, val_type, section_header, section_print_fn, bucket_fn,
                          strip_leading_zero, write)
  write = write or print
  local buckets, sectioned = M.buckets(t, bucket_fn)
  if not sectioned then
    printer(buckets, val_type or "value", strip_leading_zero, write)
    return
  end
  local order = {}
  for bucket in pairs(buckets) do
    order[#order + 1] = bucket
  end
  table.sort(order, function(a, b) return tostring(a) < tostring(b) end)
  for _, bucket in ipairs(order) do
    local shown = section_print_fn and section_print_fn(bucket) or tostring(bucket)
    write(string.format("\n%s = %s", section_header or "Bucket ptr", shown))
    printer(buckets[bucket], val_type or "value", strip_leading_zero, write)
  end
end

-- write (print by default) receives each line; tests pass their own.
function M.print_log2_hist(t, val_type, section_header, section_print_fn, bucket_fn,
                           strip_leading_zero, write)
  print_hist(t, print_log2, val_type, section_header, section_print_fn, bucket_fn,
    strip_leading_zero, write)
end

-- A log2 histogram already folded into {[slot] = count}, printed as print_log2_hist does.
function M.print_log2_slots(vals, val_type, write)
  print_log2(vals, val_type or "value", nil, write or print)
end

-- A linear histogram already folded into {[slot] = count}, printed as print_linear_hist does.
function M.print_linear_slots(vals, val_type, write)
  print_linear(vals, val_type or "value", nil, write or print)
end

-- bcc's _get_json_hist: the log2 buckets up to the highest one counted (bucket 0 left out,
-- as bcc does), with the time and the section's value when there is one.
local function json_hist(vals, val_type, section_header, section)
  local json = require("bpflua.json")
  local highest_slot = 0
  for i = 0, LOG2_SLOTS - 1 do
    if (vals[i] or 0) ~= 0 then
      highest_slot = i
    end
  end
  local data, upper, previous = {}, 1, 0
  local bucket_names = {"interval-start", "interval-end", "count"}
  for i = 1, highest_slot do
    upper = upper * 2
    data[i] = json.object(bucket_names,
      {["interval-start"] = previous, ["interval-end"] = upper - 1, count = vals[i] or 0})
    previous = upper
  end
  -- bcc's order of keys (a Python dict keeps its insertion order)
  local names = {"ts", "val_type", "data"}
  local hist = {ts = os.date("%Y-%m-%d %H:%M:%S"), val_type = val_type, data = json.array(data)}
  if section ~= nil then
    names[4] = section_header
    hist[section_header] = section
  end
  return json.encode(json.object(names, hist))
end

function M.print_json_hist(t, val_type, section_header, section_print_fn, bucket_fn, write)
  write = write or print
  val_type = val_type or "value"
  local buckets, sectioned = M.buckets(t, bucket_fn)
  if not sectioned then
    write(json_hist(buckets, val_type))
    return
  end
  local order = {}
  for bucket in pairs(buckets) do
    order[#order + 1] = bucket
  end
  table.sort(order, function(a, b) return tostring(a) < tostring(b) end)
  for _, bucket in ipairs(order) do
    local shown = section_print_fn and section_print_fn(bucket) or bucket
    write(json_hist(buckets[bucket], val_type, section_header or "Bucket ptr", shown))
  end
end

function M.print_linear_hist(t, val_type, section_header, section_print_fn, bucket_fn, write)
  print_hist(t, print_linear, val_type, section_header, section_print_fn, bucket_fn, nil, write)
end

return M
