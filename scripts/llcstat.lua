-- llcstat.lua: last level cache references and misses by process and CPU, sampled from the
-- hardware cache PMU events, as bcc's llcstat.
-- Probes: perf events PERF_COUNT_HW_CACHE_REFERENCES and PERF_COUNT_HW_CACHE_MISSES, as bcc.
-- Virtual machines rarely have a PMU that counts them; there the tool says so and ends, as
-- bcc's does (with status 1 here).
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "llcstat.lua [-h] [-c SAMPLE_PERIOD] [-t] [duration]",
  description = "Summarize cache references and misses by PID",
  {"-c", "--sample_period", "sample_period", "number",
    "Sample one in this many number of cache reference / miss events", default = 100},
  {"-t", "--tid", "tid", "flag", "Summarize cache references and misses by PID/TID"},
  positional = {{"duration", "number", "Duration, in seconds, to run"}},
  examples = [[examples:
    llcstat.lua             # sample for 10 seconds, then summarize by PID and CPU
    llcstat.lua 20 -c 1000  # 20 seconds, sampling one in 1000 events
    llcstat.lua -t          # by PID/TID
Samples the hardware cache events (PERF_COUNT_HW_CACHE_REFERENCES and _MISSES) as bcc does;
virtual machines rarely have them, and then it says so and ends.]],
})
local duration = opts.duration or 10
if opts.sample_period < 1 or opts.sample_period % 1 ~= 0 then
  io.stderr:write("llcstat.lua: argument -c/--sample_period: a positive integer, not " ..
    opts.sample_period .. "\n")
  os.exit(2)
end

local b = BPF{text = [[
  #include <uapi/linux/bpf_perf_event.h>
  struct key_t { int cpu; u32 pid; u32 tid; char name[TASK_COMM_LEN]; };
  BPF_HASH(ref_count, struct key_t);
  BPF_HASH(miss_count, struct key_t);

  static void get_key(struct key_t *key)
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    key->cpu = bpf_get_smp_processor_id();
    key->pid = pid_tgid >> 32;
    key->tid = BY_TID ? (u32)pid_tgid : key->pid;
    bpf_get_current_comm(&key->name, sizeof(key->name));
  }

  int on_cache_miss(struct bpf_perf_event_data *ctx) {
    struct key_t key = {};
    get_key(&key);
    miss_count.increment(key, ctx->sample_period);
    return 0;
  }

  int on_cache_ref(struct bpf_perf_event_data *ctx) {
    struct key_t key = {};
    get_key(&key);
    ref_count.increment(key, ctx->sample_period);
    return 0;
  }
]], cflags = {"-DBY_TID=" .. (opts.tid and 1 or 0)}}

local attached = pcall(function()
  b:attach_perf_event{ev_type = BPF.PerfType.HARDWARE, ev_config = BPF.PerfHWConfig.CACHE_MISSES,
    fn_name = "on_cache_miss", sample_period = opts.sample_period}
  b:attach_perf_event{ev_type = BPF.PerfType.HARDWARE, ev_config = BPF.PerfHWConfig.CACHE_REFERENCES,
    fn_name = "on_cache_ref", sample_period = opts.sample_period}
end)
if not attached then
  print("Failed to attach to a hardware event. Is this a virtual machine?")
  b:cleanup()
  os.exit(1)
end

io.stdout:setvbuf("line")
print(string.format("Running for %s seconds or hit Ctrl-C to end.", tostring(duration)))
local ok, err = pcall(BPF.sleep, duration)
if not ok and not tostring(err):find("interrupted", 1, true) then
  error(err, 0)
end
if not ok then
  print()
end

local function key_of(k)
  return string.format("%d/%d/%d/%s", k.pid, k.tid, k.cpu, ffi.string(k.name))
end
local misses = {}
for k, v in b["miss_count"]:items() do
  misses[key_of(k)] = tonumber(v)
end

print("PID      " .. (opts.tid and "TID      " or "") ..
  "NAME             CPU     REFERENCE         MISS    HIT%")
local total_ref, total_miss = 0, 0
for k, v in b["ref_count"]:items() do
  local ref = tonumber(v)
  local miss = misses[key_of(k)] or 0
  total_ref, total_miss = total_ref + ref, total_miss + miss
  local hit = ref >= miss and ref - miss or 0
  print(string.format("%-8d ", k.pid) .. (opts.tid and string.format("%-8d ", k.tid) or "") ..
    string.format("%-16s %-4d %12d %12d %6.2f%%", ffi.string(k.name), k.cpu, ref, miss, hit / ref * 100))
end
print(string.format("Total References: %d Total Misses: %d Hit Rate: %.2f%%", total_ref, total_miss,
  total_ref > 0 and (total_ref - total_miss) / total_ref * 100 or 0))
