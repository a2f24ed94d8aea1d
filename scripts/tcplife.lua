-- tcplife.lua: TCP sessions with their lifespan and bytes, printed as each closes, as bcc's
-- tcplife (from the sock:inet_sock_set_state tracepoint).
local BPF = require("bpflua")
local ffi = require("ffi")
local inet = require("bpflua.inet")
local opts = require("bpflua.args").parse(arg, {
  usage = "tcplife.lua [-h] [-T] [-t] [-w] [-s] [-p PID] [-L LOCALPORT] [-D REMOTEPORT] [-4 | -6]",
  description = "Trace the lifespan of TCP sessions and summarize",
  {"-T", "--time", "time", "flag", "include time column on output (HH:MM:SS)"},
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output (seconds)"},
  {"-w", "--wide", "wide", "flag", "wide column output (fits IPv6 addresses)"},
  {"-s", "--csv", "csv", "flag", "comma separated values output"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-L", "--localport", "localport", "string", "comma-separated list of local ports to trace."},
  {"-D", "--remoteport", "remoteport", "string", "comma-separated list of remote ports to trace."},
  {"-4", "--ipv4", "ipv4", "flag", "trace IPv4 family only"},
  {"-6", "--ipv6", "ipv6", "flag", "trace IPv6 family only"},
  examples = [[examples:
    tcplife.lua           # trace all TCP connect()s
    tcplife.lua -t        # include time column (HH:MM:SS)
    tcplife.lua -w        # wider columns (fit IPv6)
    tcplife.lua -stT      # csv output, with times & timestamps
    tcplife.lua -p 181    # only trace PID 181
    tcplife.lua -L 80     # only trace local port 80
    tcplife.lua -L 80,81  # only trace local ports 80 and 81
    tcplife.lua -D 80     # only trace remote port 80
    tcplife.lua -4        # only trace IPv4 family
    tcplife.lua -6        # only trace IPv6 family]],
})
if opts.ipv4 and opts.ipv6 then
  io.stderr:write("tcplife.lua: -4 and -6 exclude each other\n")
  os.exit(2)
end
local ok, lports = pcall(inet.port_set, opts.localport)
local ok2, rports = pcall(inet.port_set, opts.remoteport)
if not ok or not ok2 then
  io.stderr:write("tcplife.lua: " .. (ok and rports or lports) .. "\n")
  os.exit(2)
end

local b = BPF{text = [[
  struct owner { u32 pid; char task[TASK_COMM_LEN]; };
  struct event {
    u64 ts_us, span_us, rx_b, tx_b;
    u32 pid, family;
    u16 lport, dport;
    u8 saddr[16], daddr[16];
    char task[TASK_COMM_LEN];
  };
  BPF_HASH(birth, u64, u64, 10240);
  BPF_HASH(whoami, u64, struct owner, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if (args->protocol != IPPROTO_TCP) return 0;
    u16 lport = args->sport, dport = args->dport;
    if (!(LPORT_FILTER) || !(DPORT_FILTER)) return 0;
    u64 sk = (u64)args->skaddr;
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    /* A session is born at its first state before FIN_WAIT1. Who owns it is known for sure
     * only in the connecting (SYN_SENT) or closing (LAST_ACK) process's context: remember
     * it then; CLOSE may happen in a softirq. */
    if (args->newstate < TCP_FIN_WAIT1 && !birth.lookup(&sk)) {
      u64 ts = bpf_ktime_get_ns();
      birth.update(&sk, &ts);
    }
    if (args->newstate == TCP_SYN_SENT || args->newstate == TCP_LAST_ACK) {
      struct owner me = {.pid = pid};
      bpf_get_current_comm(&me.task, sizeof(me.task));
      whoami.update(&sk, &me);
    }
    if (args->newstate != TCP_CLOSE) return 0;
    u64 *born = birth.lookup(&sk);
    struct owner *who = whoami.lookup(&sk);
    if (!born) {
      whoami.delete(&sk);
      return 0;
    }
    u64 now = bpf_ktime_get_ns(), span = now - *born;
    birth.delete(&sk);
    if (who) pid = who->pid;
    if ((PID && pid != PID) || (FAMILY && args->family != FAMILY)) {
      whoami.delete(&sk);
      return 0;
    }
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (e) {
      struct tcp_sock *tp = (struct tcp_sock *)args->skaddr;
      e->ts_us = now / 1000;
      e->span_us = span / 1000;
      e->rx_b = BPF_CORE_READ(tp, bytes_received);
      e->tx_b = BPF_CORE_READ(tp, bytes_acked);
      e->pid = pid;
      e->family = args->family;
      e->lport = lport;
      e->dport = dport;
      if (args->family == AF_INET) {
        bpf_probe_read_kernel(e->saddr, 4, args->saddr);
        bpf_probe_read_kernel(e->daddr, 4, args->daddr);
      } else {
        bpf_probe_read_kernel(e->saddr, 16, args->saddr_v6);
        bpf_probe_read_kernel(e->daddr, 16, args->daddr_v6);
      }
      if (who)
        __builtin_memcpy(e->task, who->task, sizeof(e->task));
      else
        bpf_get_current_comm(&e->task, sizeof(e->task));
      events.ringbuf_submit(e, 0);
    }
    whoami.delete(&sk);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0),
              "-DFAMILY=" .. (opts.ipv4 and inet.AF_INET or opts.ipv6 and inet.AF_INET6 or 0),
              "-DLPORT_FILTER=" .. inet.port_filter(lports, "lport"),
              "-DDPORT_FILTER=" .. inet.port_filter(rports, "dport")}}

local header, row
if opts.csv then
  header = "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s"
  row = "%d,%s,%s,%s,%s,%s,%d,%d,%d,%.2f"
elseif opts.wide then
  header = "%-5s %-16.16s %-2s %-39s %-5s %-39s %-5s %6s %6s %s"
  row = "%-5d %-16.16s %-2s %-39s %-5s %-39s %-5d %6d %6d %.2f"
else
  header = "%-5s %-10.10s %s%-15s %-5s %-15s %-5s %5s %5s %s"
  row = "%-5d %-10.10s %s%-15s %-5d %-15s %-5d %5d %5d %.2f"
end

local events = b["events"]
local lead = require("bpflua.clock").leading_columns(opts)
io.stdout:setvbuf("line")
print(lead.header() .. string.format(header, "PID", "COMM", (opts.wide or opts.csv) and "IP" or "",
  "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS"))
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local version = e.family == inet.AF_INET and "4" or "6"
  print(lead.row(e.ts_us) .. string.format(row, e.pid, ffi.string(e.task),
    (opts.wide or opts.csv) and version or "", inet.ntop(e.family, e.saddr), e.lport,
    inet.ntop(e.family, e.daddr), e.dport, math.floor(tonumber(e.tx_b) / 1024),
    math.floor(tonumber(e.rx_b) / 1024), tonumber(e.span_us) / 1000))
end)
while true do
  b:ring_buffer_poll()
end
