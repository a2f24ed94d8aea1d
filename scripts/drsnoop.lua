-- drsnoop.lua: trace direct reclaim (a process made to free memory before its allocation
-- can go on), with its latency and the pages freed, as bcc's drsnoop.
-- Probes: the vmscan:mm_vmscan_direct_reclaim_begin/end tracepoints, as bcc.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "drsnoop.lua [-h] [-T] [-U] [-p PID] [-t TID] [-u UID] [-d DURATION] [-n NAME] [-v]",
  description = "Trace direct reclaim",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-U", "--print-uid", "print_uid", "flag", "print UID column"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-t", "--tid", "tid", "number", "trace this TID only"},
  {"-u", "--uid", "uid", "number", "trace this UID only"},
  {"-d", "--duration", "duration", "number", "total duration of trace in seconds"},
  {"-n", "--name", "name", "string", "only print process names containing this name"},
  {"-v", "--verbose", "verbose", "flag", "show system memory state"},
  examples = [[examples:
    drsnoop.lua           # trace all direct reclaim
    drsnoop.lua -T        # include timestamps
    drsnoop.lua -U        # include UID
    drsnoop.lua -p 181    # only trace PID 181
    drsnoop.lua -t 123    # only trace TID 123
    drsnoop.lua -u 1000   # only trace UID 1000
    drsnoop.lua -d 10     # trace for 10 seconds only
    drsnoop.lua -n main   # only print process names containing "main"
Probes the vmscan:mm_vmscan_direct_reclaim_begin/end tracepoints, as bcc does. -v reads the
kernel's vm_zone_stat, found in /proc/kallsyms (a kernel with CONFIG_KALLSYMS_ALL).]],
})

-- -v: the free pages counter, read where the reclaim begins, from the kernel's vm_zone_stat
-- (NR_FREE_PAGES is its first item).
local vm_stat_addr = "0"
if opts.verbose then
  for line in io.lines("/proc/kallsyms") do
    local addr, name = line:match("^(%x+) %a (%S+)$")
    if name == "vm_zone_stat" or name == "vm_stat" then
      vm_stat_addr = "0x" .. addr
      break
    end
  end
  if vm_stat_addr == "0" or tonumber(vm_stat_addr) == 0 then
    print("ERROR: no vm_stat or vm_zone_stat in /proc/kallsyms. Exiting.")
    print("HINT: the kernel should be built with CONFIG_KALLSYMS_ALL.")
    os.exit(1)
  end
end

local b = BPF{text = [[
  struct val_t { u64 id; u64 ts; char name[TASK_COMM_LEN]; u64 free_pages; };
  struct data_t {
    u64 id, nr_reclaimed, delta, ts, free_pages;
    u32 uid;
    char name[TASK_COMM_LEN];
  };
  BPF_HASH(start, u64, struct val_t, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_begin) {
    u64 id = bpf_get_current_pid_tgid();
    u32 pid = id >> 32, tid = id, uid = bpf_get_current_uid_gid();
    if (TID ? tid != TID : (PID && pid != PID)) return 0;   /* the TID wins, as in bcc */
    if (UID >= 0 && uid != UID) return 0;
    struct val_t val = {.id = id, .ts = bpf_ktime_get_ns()};
    bpf_get_current_comm(&val.name, sizeof(val.name));
    if (VM_STAT)
      bpf_probe_read_kernel(&val.free_pages, sizeof(val.free_pages), (const void *)VM_STAT);
    start.update(&id, &val);
    return 0;
  }

  TRACEPOINT_PROBE(vmscan, mm_vmscan_direct_reclaim_end) {
    u64 id = bpf_get_current_pid_tgid();
    struct val_t *valp = start.lookup(&id);
    if (!valp) return 0;   /* began before tracing did, or filtered */
    u64 ts = bpf_ktime_get_ns();
    struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
    if (data) {
      data->id = valp->id;
      data->delta = ts - valp->ts;
      data->ts = ts / 1000;
      data->uid = bpf_get_current_uid_gid();
      data->nr_reclaimed = args->nr_reclaimed;
      data->free_pages = valp->free_pages;
      __builtin_memcpy(data->name, valp->name, sizeof(data->name));
      events.ringbuf_submit(data, 0);
    }
    start.delete(&id);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DTID=" .. (opts.tid or 0), "-DUID=" .. (opts.uid or -1),
              "-DVM_STAT=" .. vm_stat_addr}}

local page_kb = 4
local f = io.popen("getconf PAGESIZE 2>/dev/null")
if f then
  page_kb = (tonumber(f:read("*l")) or 4096) / 1024
  f:close()
end

io.stdout:setvbuf("line")
print((opts.timestamp and string.format("%-14s", "TIME(s)") or "") ..
  (opts.print_uid and string.format("%-6s", "UID") or "") ..
  string.format("%-14s %-6s %8s %5s", "COMM", opts.tid and "TID" or "PID", "LAT(ms)", "PAGES") ..
  (opts.verbose and string.format("%10s", "FREE(KB)") or ""))

local events = b["events"]
local initial_ts
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  initial_ts = initial_ts or e.ts
  local name = ffi.string(e.name)
  if opts.name and not name:find(opts.name, 1, true) then
    return
  end
  local line = ""
  if opts.timestamp then
    line = string.format("%-14.9f", tonumber(e.ts - initial_ts) / 1e6)
  end
  if opts.print_uid then
    line = line .. string.format("%-6d", e.uid)
  end
  local id = opts.tid and tonumber(bit.band(e.id, 0xffffffff)) or tonumber(bit.rshift(e.id, 32))
  line = line .. string.format("%-14.14s %-6s %8.2f %5d", name, id, tonumber(e.delta) / 1e6,
    tonumber(e.nr_reclaimed))
  if opts.verbose then
    line = line .. string.format("%10d", tonumber(e.free_pages) * page_kb)
  end
  print(line)
end)

local clock = require("bpflua.clock")
local deadline = opts.duration and clock.monotonic_ns() + opts.duration * 1e9
while not deadline or clock.monotonic_ns() < deadline do
  b:ring_buffer_poll(deadline and 100 or nil)
end
