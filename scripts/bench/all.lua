-- Every benchmark, one after the other, and one table of the ratios of bpflua (and bcc) to
-- each benchmark's baseline, every ratio measured within the same benchmark run. Each
-- benchmark also prints its own detailed table as it goes (docs/performance.md has them).
--   luajit scripts/bench/all.lua [quick]     (as root, after scripts/setup.sh)
-- quick: fewer rounds, for a look rather than figures to publish.
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local quick = arg[1] == "quick"

-- name, how it runs, rounds (full, quick)
local benchmarks = {
  {"ringbuf_drain.lua", "bpflua", 15, 3},
  {"perfbuf_drain.lua", "bpflua", 15, 3},
  {"event_strings.lua", "bpflua", 9, 3},
  {"ringbuf_sustained.lua", "bpflua", 10, 3},
  {"table_read.lua", "bpflua", 11, 3},
  {"scrape.lua", "bpflua", 11, 3},
  {"startup.lua", "luajit", 10, 3},
  {"first_event.lua", "luajit", 7, 3},
  {"cache_hit.lua", "luajit", 9, 3},
  {"demangle.lua", "luajit", 7, 3},
}

-- The 1-minute load average: other work on the machine moves absolute times (each ratio is
-- taken within one benchmark's run, so it moves them less), and the table says how loaded
-- the machine was.
local loads = {}
local function note_load()
  local f = io.open("/proc/loadavg")
  if f then
    loads[#loads + 1] = tonumber(f:read("*l"):match("^(%S+)"))
    f:close()
  end
end

local summary = os.tmpname()
local failed = {}
note_load()
for _, b in ipairs(benchmarks) do
  local name, runner, rounds = b[1], b[2], quick and b[4] or b[3]
  print(string.format("== %s %s/%s %d", runner, here, name, rounds))
  io.stdout:flush()
  local ok = os.execute(string.format("BPFLUA_BENCH_SUMMARY=%s %s %s/%s %d", summary, runner,
    here, name, rounds))
  if ok ~= 0 and ok ~= true then
    failed[#failed + 1] = name
  end
  note_load()
  print()
end

local rows = {}
for line in io.lines(summary) do
  local benchmark, case, value, baseline, baseline_value = line:match(
    "^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)$")
  if benchmark then
    rows[#rows + 1] = {benchmark, case, tonumber(value), baseline, tonumber(baseline_value)}
  end
end
os.remove(summary)

local max_load = 0
for _, l in ipairs(loads) do
  max_load = math.max(max_load, l)
end
print(string.format("all benchmarks%s, %s: ratio = case / baseline, lower is better",
  quick and " (quick)" or "", os.date("!%Y-%m-%d %H:%M UTC")))
if #loads > 0 then
  print(string.format("load average (1 min) at the start %.2f, at most %.2f between benchmarks, " ..
    "at the end %.2f; %d cores", loads[1], max_load, loads[#loads],
    tonumber(io.popen("nproc"):read("*l")) or 0))
end
local widths = {#"benchmark", #"case", #"baseline"}
for _, r in ipairs(rows) do
  for i, col in ipairs({1, 2, 4}) do
    widths[i] = math.max(widths[i], #r[col])
  end
end
local line = "%-" .. widths[1] .. "s  %-" .. widths[2] .. "s  %-" .. widths[3] .. "s  %9s"
print(string.format(line, "benchmark", "case", "baseline", "ratio"))
for _, r in ipairs(rows) do
  local ratio = r[5] ~= 0 and string.format("%.2fx", r[3] / r[5]) or
    string.format("%.3g/%.3g", r[3], r[5])
  print(string.format(line, r[1], r[2], r[4], ratio))
end
if #failed > 0 then
  print("failed: " .. table.concat(failed, ", "))
  os.exit(1)
end
