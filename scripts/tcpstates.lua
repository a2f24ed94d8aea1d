-- tcpstates.lua: trace TCP state changes with the time spent in the old state, as bcc's
-- tcpstates (from the sock:inet_sock_set_state tracepoint).
local BPF = require("bpflua")
local ffi = require("ffi")
local inet = require("bpflua.inet")
local opts = require("bpflua.args").parse(arg, {
  usage = "tcpstates.lua [-h] [-T] [-t] [-w] [-s] [-L LOCALPORT] [-D REMOTEPORT] [-4 | -6]",
  description = "Trace TCP session state changes and durations",
  {"-T", "--time", "time", "flag", "include time column on output (HH:MM:SS)"},
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output (seconds)"},
  {"-w", "--wide", "wide", "flag", "wide column output (fits IPv6 addresses)"},
  {"-s", "--csv", "csv", "flag", "comma separated values output"},
  {"-L", "--localport", "localport", "string", "comma-separated list of local ports to trace."},
  {"-D", "--remoteport", "remoteport", "string", "comma-separated list of remote ports to trace."},
  {"-4", "--ipv4", "ipv4", "flag", "trace IPv4 family only"},
  {"-6", "--ipv6", "ipv6", "flag", "trace IPv6 family only"},
  examples = [[examples:
    tcpstates.lua           # trace all TCP state changes
    tcpstates.lua -t        # include timestamp column
    tcpstates.lua -T        # include time column (HH:MM:SS)
    tcpstates.lua -w        # wider columns (fit IPv6)
    tcpstates.lua -stT      # csv output, with times & timestamps
    tcpstates.lua -L 80     # only trace local port 80
    tcpstates.lua -L 80,81  # only trace local ports 80 and 81
    tcpstates.lua -D 80     # only trace remote port 80
    tcpstates.lua -4        # trace IPv4 family only
    tcpstates.lua -6        # trace IPv6 family only
(bcc's -Y, logging to the systemd journal, is not offered.)]],
})
if opts.ipv4 and opts.ipv6 then
  io.stderr:write("tcpstates.lua: -4 and -6 exclude each other\n")
  os.exit(2)
end
local ok, lports = pcall(inet.port_set, opts.localport)
local ok2, rports = pcall(inet.port_set, opts.remoteport)
if not ok or not ok2 then
  io.stderr:write("tcpstates.lua: " .. (ok and rports or lports) .. "\n")
  os.exit(2)
end
local family = opts.ipv4 and inet.AF_INET or opts.ipv6 and inet.AF_INET6 or 0

local b = BPF{text = [[
  struct event {
    u64 ts_us, skaddr, span_us;
    u32 pid, family;
    u16 lport, dport;
    s32 oldstate, newstate;
    u8 saddr[16], daddr[16];
    char task[TASK_COMM_LEN];
  };
  BPF_HASH(last, u64, u64, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if (args->protocol != IPPROTO_TCP) return 0;
    if (FAMILY && args->family != FAMILY) return 0;
    u16 lport = args->sport, dport = args->dport;
    if (!(LPORT_FILTER) || !(DPORT_FILTER)) return 0;
    u64 sk = (u64)args->skaddr, now = bpf_ktime_get_ns();
    u64 *then = last.lookup(&sk);
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (e) {
      e->ts_us = now / 1000;
      e->skaddr = sk;
      e->span_us = then ? (now - *then) / 1000 : 0;
      e->pid = bpf_get_current_pid_tgid() >> 32;
      e->family = args->family;
      e->lport = lport;
      e->dport = dport;
      e->oldstate = args->oldstate;
      e->newstate = args->newstate;
      if (args->family == AF_INET) {
        bpf_probe_read_kernel(e->saddr, 4, args->saddr);
        bpf_probe_read_kernel(e->daddr, 4, args->daddr);
      } else {
        bpf_probe_read_kernel(e->saddr, 16, args->saddr_v6);
        bpf_probe_read_kernel(e->daddr, 16, args->daddr_v6);
      }
      bpf_get_current_comm(&e->task, sizeof(e->task));
      events.ringbuf_submit(e, 0);
    }
    if (args->newstate == TCP_CLOSE)
      last.delete(&sk);
    else
      last.update(&sk, &now);
    return 0;
  }
]], cflags = {"-DFAMILY=" .. family, "-DLPORT_FILTER=" .. inet.port_filter(lports, "lport"),
              "-DDPORT_FILTER=" .. inet.port_filter(rports, "dport")}}

local header, row
if opts.csv then
  header = "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s"
  row = "%x,%d,%s,%s,%s,%d,%s,%d,%s,%s,%.3f"
elseif opts.wide then
  header = "%-16s %-5s %-16.16s %-2s %-39s %-5s %-39s %-5s %-11s -> %-11s %s"
  row = "%-16x %-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %-11s -> %-11s %.3f"
else
  header = "%-16s %-5s %-10.10s %s%-15s %-5s %-15s %-5s %-11s -> %-11s %s"
  row = "%-16x %-5d %-10.10s %s%-15s %-5d %-15s %-5d %-11s -> %-11s %.3f"
end

local events = b["events"]
local lead = require("bpflua.clock").leading_columns(opts)
io.stdout:setvbuf("line")
print(lead.header() .. string.format(header, "SKADDR", "C-PID", "C-COMM",
  (opts.wide or opts.csv) and "IP" or "", "LADDR", "LPORT", "RADDR", "RPORT", "OLDSTATE",
  "NEWSTATE", "MS"))
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local version = e.family == inet.AF_INET and "4" or "6"
  print(lead.row(e.ts_us) .. string.format(row, e.skaddr, e.pid, ffi.string(e.task),
    (opts.wide or opts.csv) and version or "", inet.ntop(e.family, e.saddr), e.lport,
    inet.ntop(e.family, e.daddr), e.dport, inet.tcp_state(e.oldstate), inet.tcp_state(e.newstate),
    tonumber(e.span_us) / 1000))
end)
while true do
  b:ring_buffer_poll()
end
