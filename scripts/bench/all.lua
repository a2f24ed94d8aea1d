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

local summary = os.tmpname()
local failed = {}
for _, b in ipairs(benchmarks) do
  local name, runner, rounds = b[1], b[2], quick and b[4] or b[3]
  print(string.format("== %s %s/%s %d", runner, here, name, rounds))
  io.stdout:flush()
  local ok = os.execute(string.format("BPFLUA_BENCH_SUMMARY=%s %s %s/%s %d", summary, runner,
    here, name, rounds))
  if ok ~= 0 and ok ~= true then
    failed[#failed + 1] = name
  end
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

print(string.format("all benchmarks%s, %s: ratio = case / baseline, lower is better",
  quick and " (quick)" or "", os.date("!%Y-%m-%d")))
print(string.format("%-22s %-40s %-18s %10s", "benchmark", "case", "baseline", "ratio"))
for _, r in ipairs(rows) do
  local ratio = r[5] ~= 0 and string.format("%.2fx", r[3] / r[5]) or
    string.format("%.3g/%.3g", r[3], r[5])
  print(string.format("%-22s %-40s %-18s %10s", r[1], r[2], r[4], ratio))
end
if #failed > 0 then
  print("failed: " .. table.concat(failed, ", "))
  os.exit(1)
end
