-- statsnoop.lua: trace stat(2)-family syscalls, as bcc's statsnoop.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "statsnoop.lua [-h] [-t] [-x] [-s] [-p PID]",
  description = "Trace stat() syscalls",
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-x", "--failed", "failed", "flag", "only show failed stats"},
  {"-s", "--sysname", "sysname", "flag", "include syscall name on output"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  examples = [[examples:
    statsnoop.lua           # trace all stat() syscalls
    statsnoop.lua -t        # include timestamps
    statsnoop.lua -s        # include syscall name
    statsnoop.lua -x        # only show failed stats
    statsnoop.lua -p 181    # only trace PID 181]],
})

-- The syscalls traced, by the number the BPF side stores, with their path argument's name.
local SYSCALLS = {"statfs", "newstat", "newlstat", "newfstatat", "statx"}
local PATH_ARG = {statfs = "pathname"}
local PATH_LEN = 256

local probes = {}
for i, name in ipairs(SYSCALLS) do
  probes[#probes + 1] = string.format([[
    TRACEPOINT_PROBE(syscalls, sys_enter_%s) { return entered(%d, args->%s); }
    TRACEPOINT_PROBE(syscalls, sys_exit_%s) { return exited(args->ret); }
  ]], name, i - 1, PATH_ARG[name] or "filename", name)
end

local b = BPF{text = [[
  struct pending_stat { const char *filename; u32 type; };
  struct event { u64 ts_ns; u32 pid; s32 ret; u32 type; char comm[TASK_COMM_LEN]; char fname[PATH_LEN]; };
  BPF_HASH(pending, u32, struct pending_stat);
  BPF_RINGBUF_OUTPUT(events, 64);

  static int entered(u32 type, const char *filename)
  {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    if (PID && (id >> 32) != PID) return 0;
    struct pending_stat p = {.filename = filename, .type = type};
    pending.update(&tid, &p);
    return 0;
  }

  static int exited(long ret)
  {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = (u32)id;
    struct pending_stat *p = pending.lookup(&tid);
    if (!p) return 0;
    if (!FAILED || ret < 0) {
      struct event *e = events.ringbuf_reserve(sizeof(struct event));
      if (e) {
        e->ts_ns = bpf_ktime_get_ns();
        e->pid = id >> 32;
        e->ret = ret;
        e->type = p->type;
        bpf_get_current_comm(&e->comm, sizeof(e->comm));
        bpf_probe_read_user_str(e->fname, sizeof(e->fname), p->filename);
        events.ringbuf_submit(e, 0);
      }
    }
    pending.delete(&tid);
    return 0;
  }
]] .. table.concat(probes), cflags = {"-DPID=" .. (opts.pid or 0),
  "-DFAILED=" .. (opts.failed and 1 or 0), "-DPATH_LEN=" .. PATH_LEN}}

local events = b["events"]
local start_ts
io.stdout:setvbuf("line")
print((opts.timestamp and string.format("%-14s", "TIME(s)") or "") ..
  string.format("%-7s %-16s %4s %3s", "PID", "COMM", "FD", "ERR") ..
  (opts.sysname and string.format(" %-12s", "SYSCALL") or "") .. " PATH")
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local fd, err = e.ret, 0
  if e.ret < 0 then
    fd, err = -1, -e.ret
  end
  start_ts = start_ts or e.ts_ns
  local line = {}
  if opts.timestamp then
    line[1] = string.format("%-14.9f", tonumber(e.ts_ns - start_ts) / 1e9)
  end
  line[#line + 1] = string.format("%-7d %-16s %4d %3d", e.pid, ffi.string(e.comm), fd, err)
  if opts.sysname then
    line[#line + 1] = string.format(" %-12s", SYSCALLS[e.type + 1])
  end
  line[#line + 1] = " " .. ffi.string(e.fname)
  print(table.concat(line))
end)
while true do
  b:ring_buffer_poll()
end
