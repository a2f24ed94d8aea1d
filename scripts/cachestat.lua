-- cachestat.lua: page cache hits, misses and dirtied pages every interval, from counts of the
-- kernel's page cache functions, as bcc's cachestat.
-- Probes: kprobes, as bcc: filemap_add_folio (or add_to_page_cache_lru), folio_mark_accessed
-- (or mark_page_accessed), mark_buffer_dirty, and folio_account_dirtied (or
-- account_page_dirtied) where the kernel can probe it, else the writeback:writeback_dirty_folio
-- (or _page) tracepoint. A kernel without kprobes cannot run it.
local BPF = require("bpflua")
local args = require("bpflua.args")
local intervals = require("bpflua.intervals")
local opts = args.parse(arg, {
  usage = "cachestat.lua [-h] [-T] [interval] [count]",
  description = "Count cache kernel function calls",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  positional = {{"interval", "number", "output interval, in seconds"},
                {"count", "number", "number of outputs"}},
  examples = [[examples:
    cachestat.lua           # print a line every second
    cachestat.lua -T 5 3    # three lines, 5 seconds apart, with the time
Probes the page cache's kernel functions with kprobes, as bcc does (the dirtied pages from the
writeback:writeback_dirty_folio tracepoint where the kernel cannot probe
folio_account_dirtied): it needs a kernel with kprobes.]],
})

local NF_APCL, NF_MPA, NF_MBD, NF_APD = 0, 1, 2, 3
local b = BPF{text = [[
  BPF_ARRAY(counts, u64, 4);

  static int count(u32 nf)
  {
    counts.atomic_increment(nf);
    return 0;
  }
  int do_count_apcl(struct pt_regs *ctx) { return count(NF_APCL); }
  int do_count_mpa(struct pt_regs *ctx) { return count(NF_MPA); }
  int do_count_mbd(struct pt_regs *ctx) { return count(NF_MBD); }
  int do_count_apd(struct pt_regs *ctx) { return count(NF_APD); }
  int do_count_apd_tp(void *ctx) { return count(NF_APD); }
]], cflags = {"-DNF_APCL=" .. NF_APCL, "-DNF_MPA=" .. NF_MPA, "-DNF_MBD=" .. NF_MBD,
              "-DNF_APD=" .. NF_APD}}

local first_function = require("bpflua.patterns").first_kprobe_function

local ok, err = pcall(function()
  b:attach_kprobe{event = first_function{"filemap_add_folio"} or "add_to_page_cache_lru",
                  fn_name = "do_count_apcl"}
  b:attach_kprobe{event = first_function{"folio_mark_accessed"} or "mark_page_accessed",
                  fn_name = "do_count_mpa"}
  -- folio_account_dirtied and account_page_dirtied are static, often inlined away
  local dirtied = first_function{"folio_account_dirtied", "account_page_dirtied"}
  if dirtied then
    b:attach_kprobe{event = dirtied, fn_name = "do_count_apd"}
  elseif BPF.tracepoint_exists("writeback", "writeback_dirty_folio") then
    b:attach_tracepoint{tp = "writeback:writeback_dirty_folio", fn_name = "do_count_apd_tp"}
  elseif BPF.tracepoint_exists("writeback", "writeback_dirty_page") then
    b:attach_tracepoint{tp = "writeback:writeback_dirty_page", fn_name = "do_count_apd_tp"}
  else
    error("Failed to attach kprobe folio_account_dirtied or account_page_dirtied or any tracepoint", 0)
  end
  b:attach_kprobe{event = "mark_buffer_dirty", fn_name = "do_count_mbd"}
end)
if not ok then
  args.fail("cachestat.lua", err)
end

local function meminfo_mb(field)
  for line in io.lines("/proc/meminfo") do
    local name, kb = line:match("^(%w+):%s+(%d+)")
    if name == field then
      return tonumber(kb) / 1024
    end
  end
  return 0
end

local counts = b["counts"]
local function report()
  local apcl, mpa = tonumber(counts:get(NF_APCL)), tonumber(counts:get(NF_MPA))
  local mbd, apd = tonumber(counts:get(NF_MBD)), tonumber(counts:get(NF_APD))
  counts:zero()
  -- accesses that are not dirtyings; misses are the pages added that were not dirtied
  local total = math.max(0, mpa - mbd)
  local misses = math.max(0, apcl - apd)
  local hits = total - misses
  if hits < 0 then
    -- read-ahead added more pages than were asked for: count the accesses as misses
    misses, hits = total, 0
  end
  local ratio = total > 0 and hits / total or 0
  print((opts.timestamp and string.format("%-8s ", os.date("%H:%M:%S")) or "") ..
    string.format("%8d %8d %8d %7.2f%% %12.0f %10.0f", hits, misses, mbd, 100 * ratio,
      meminfo_mb("Buffers"), meminfo_mb("Cached")))
end

io.stdout:setvbuf("line")
print((opts.timestamp and string.format("%-8s ", "TIME") or "") ..
  string.format("%8s %8s %8s %8s %12s %10s", "HITS", "MISSES", "DIRTIES", "HITRATIO", "BUFFERS_MB",
    "CACHED_MB"))
intervals.run{interval = opts.interval or 1, count = opts.count, report = report,
  detaching = "interrupted"}
