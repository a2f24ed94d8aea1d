-- tcpconnect.lua: trace active TCP connections (connect()), as bcc's tcpconnect, from the
-- sock:inet_sock_set_state tracepoint: a socket entering SYN_SENT is a connect by the
-- current process; it is printed when it leaves SYN_SENT, once its local port is known.
local BPF = require("bpflua")
local ffi = require("ffi")
local inet = require("bpflua.inet")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "tcpconnect.lua [-h] [-t] [-p PID] [-P PORT] [-4 | -6] [-L] [-U] [-u UID] [-c] " ..
    "[--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-d]",
  description = "Trace TCP connects",
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-P", "--port", "port", "string", "comma-separated list of destination ports to trace."},
  {"-4", "--ipv4", "ipv4", "flag", "trace IPv4 family only"},
  {"-6", "--ipv6", "ipv6", "flag", "trace IPv6 family only"},
  {"-L", "--lport", "lport", "flag", "include LPORT on output"},
  {"-U", "--print-uid", "print_uid", "flag", "include UID on output"},
  {"-u", "--uid", "uid", "number", "trace this UID only"},
  {"-c", "--count", "count", "flag", "count connects per src ip and dest ip/port"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  {"-d", "--dns", "dns", "flag", "include likely DNS query associated with each connect"},
  examples = [[examples:
    tcpconnect.lua           # trace all TCP connect()s
    tcpconnect.lua -t        # include timestamps
    tcpconnect.lua -p 181    # only trace PID 181
    tcpconnect.lua -P 80     # only trace port 80
    tcpconnect.lua -P 80,81  # only trace port 80 and 81
    tcpconnect.lua -4        # only trace IPv4 family
    tcpconnect.lua -6        # only trace IPv6 family
    tcpconnect.lua -U        # include UID
    tcpconnect.lua -u 1000   # only trace UID 1000
    tcpconnect.lua -c        # count connects per src ip and dest ip/port
    tcpconnect.lua -L        # include LPORT while printing outputs
    tcpconnect.lua -d        # include DNS queries associated with connects
    tcpconnect.lua --cgroupmap mappath  # only trace cgroups in this BPF map
    tcpconnect.lua --mntnsmap mappath   # only trace mount namespaces in the map
(-d reads the DNS responses that recvfrom()/recvmsg() return from port 53.)]],
})
if opts.count and opts.dns then
  io.stderr:write("Error: you may not specify -d/--dns with -c/--count.\n")
  os.exit(1)
end
if opts.ipv4 and opts.ipv6 then
  io.stderr:write("tcpconnect.lua: -4 and -6 exclude each other\n")
  os.exit(2)
end
local ok, ports = pcall(inet.port_set, opts.port)
if not ok then
  io.stderr:write("tcpconnect.lua: " .. ports .. "\n")
  os.exit(2)
end

local b = BPF{text = args.container_filter("tcpconnect.lua", opts) .. [[
  struct connector { u64 ts_us; u32 pid, uid; char task[TASK_COMM_LEN]; };
  struct event {
    u64 ts_us;
    u32 pid, uid, family;
    u16 lport, dport;
    u8 saddr[16], daddr[16];
    char task[TASK_COMM_LEN];
  };
  struct count_key { u8 saddr[16], daddr[16]; u32 family; u32 dport; };  /* no padding */
  BPF_HASH(connecting, u64, struct connector, 10240);
  BPF_HASH(counts, struct count_key, u64, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  TRACEPOINT_PROBE(sock, inet_sock_set_state) {
    if (args->protocol != IPPROTO_TCP) return 0;
    if (FAMILY && args->family != FAMILY) return 0;
    u16 dport = args->dport;
    if (!(DPORT_FILTER)) return 0;
    u64 sk = (u64)args->skaddr;
    if (args->newstate == TCP_SYN_SENT) {
      u64 id = bpf_get_current_pid_tgid();
      struct connector c = {.ts_us = bpf_ktime_get_ns() / 1000, .pid = id >> 32,
                            .uid = (u32)bpf_get_current_uid_gid()};
      if ((PID && c.pid != PID) || (UID >= 0 && c.uid != UID)) return 0;
      if (container_should_be_filtered()) return 0;
      bpf_get_current_comm(&c.task, sizeof(c.task));
      connecting.update(&sk, &c);
      return 0;
    }
    if (args->oldstate != TCP_SYN_SENT) return 0;
    struct connector *c = connecting.lookup(&sk);
    if (!c) return 0;
    if (COUNT) {
      struct count_key key = {.family = args->family, .dport = dport};
      if (args->family == AF_INET) {
        bpf_probe_read_kernel(key.saddr, 4, args->saddr);
        bpf_probe_read_kernel(key.daddr, 4, args->daddr);
      } else {
        bpf_probe_read_kernel(key.saddr, 16, args->saddr_v6);
        bpf_probe_read_kernel(key.daddr, 16, args->daddr_v6);
      }
      counts.increment(key);
    } else {
      struct event *e = events.ringbuf_reserve(sizeof(struct event));
      if (e) {
        e->ts_us = c->ts_us;
        e->pid = c->pid;
        e->uid = c->uid;
        e->family = args->family;
        e->lport = args->sport;
        e->dport = dport;
        if (args->family == AF_INET) {
          bpf_probe_read_kernel(e->saddr, 4, args->saddr);
          bpf_probe_read_kernel(e->daddr, 4, args->daddr);
        } else {
          bpf_probe_read_kernel(e->saddr, 16, args->saddr_v6);
          bpf_probe_read_kernel(e->daddr, 16, args->daddr_v6);
        }
        __builtin_memcpy(e->task, c->task, sizeof(e->task));
        events.ringbuf_submit(e, 0);
      }
    }
    connecting.delete(&sk);
    return 0;
  }

#if DNS
  /* -d: DNS responses, read where a resolver receives them (recvfrom() or recvmsg() from
     port 53), as syscall tracepoints see them without kprobes. */
  #define DNS_MAX 512
  #define DNS_PORT (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? __builtin_bswap16(53) : 53)
  struct dns_receive { u64 buf, addr; };
  struct dns_packet { u32 len; u8 data[DNS_MAX]; };
  BPF_HASH(dns_receiving, u32, struct dns_receive, 1024);
  BPF_RINGBUF_OUTPUT(dns_events, 16);

  static int dns_receive(void *buf, void *addr) {
    if (!buf || !addr) return 0;
    struct dns_receive r = {(u64)buf, (u64)addr};
    u32 tid = bpf_get_current_pid_tgid();
    dns_receiving.update(&tid, &r);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_enter_recvfrom) {
    return dns_receive((void *)args->ubuf, (void *)args->addr);
  }

  TRACEPOINT_PROBE(syscalls, sys_enter_recvmsg) {
    struct user_msghdr msg = {};
    struct iovec iov = {};
    bpf_probe_read_user(&msg, sizeof(msg), (void *)args->msg);
    if (!msg.msg_iov) return 0;
    bpf_probe_read_user(&iov, sizeof(iov), msg.msg_iov);
    return dns_receive(iov.iov_base, msg.msg_name);
  }

  static int dns_received(long ret) {
    u32 tid = bpf_get_current_pid_tgid();
    struct dns_receive *r = dns_receiving.lookup(&tid);
    if (!r) return 0;
    /* sin_family and sin_port lead struct sockaddr_in6 too */
    struct sockaddr_in from = {};
    bpf_probe_read_user(&from, sizeof(from), (void *)r->addr);
    if (ret > 12 && (from.sin_family == AF_INET || from.sin_family == AF_INET6) &&
        from.sin_port == DNS_PORT) {
      struct dns_packet *p = dns_events.ringbuf_reserve(sizeof(*p));
      if (p) {
        u32 len = ret < DNS_MAX ? ret : DNS_MAX;
        p->len = len;
        bpf_probe_read_user(p->data, len, (void *)r->buf);
        dns_events.ringbuf_submit(p, 0);
      }
    }
    dns_receiving.delete(&tid);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_recvfrom) { return dns_received(args->ret); }
  TRACEPOINT_PROBE(syscalls, sys_exit_recvmsg) { return dns_received(args->ret); }
#endif
]], cflags = {"-DDNS=" .. (opts.dns and 1 or 0), "-DPID=" .. (opts.pid or 0), "-DUID=" .. (opts.uid or -1),
              "-DFAMILY=" .. (opts.ipv4 and inet.AF_INET or opts.ipv6 and inet.AF_INET6 or 0),
              "-DCOUNT=" .. (opts.count and 1 or 0), "-DDPORT_FILTER=" .. inet.port_filter(ports, "dport")}}

io.stdout:setvbuf("line")
if opts.count then
  print("Tracing connect ... Hit Ctrl-C to end")
  require("bpflua.intervals").run{report = function()
    print()
    print(string.format("%-25s %-25s %-20s %-10s", "LADDR", "RADDR", "RPORT", "CONNECTS"))
    local rows = {}
    for key, n in b["counts"]:items() do
      rows[#rows + 1] = {key = key, n = n}
    end
    table.sort(rows, function(x, y) return x.n > y.n end)
    for _, r in ipairs(rows) do
      print(string.format("%-25s %-25s %-20s %-10d", inet.ntop(r.key.family, r.key.saddr),
        inet.ntop(r.key.family, r.key.daddr), r.key.dport, r.n))
    end
  end}
  return
end

local events = b["events"]
local start_ts
print((opts.timestamp and string.format("%-9s", "TIME(s)") or "") ..
  (opts.print_uid and string.format("%-6s", "UID") or "") ..
  (opts.lport and string.format("%-7s %-12s %-2s %-16s %-6s %-16s %-6s", "PID", "COMM", "IP", "SADDR", "LPORT", "DADDR", "DPORT")
   or string.format("%-7s %-12s %-2s %-16s %-16s %-6s", "PID", "COMM", "IP", "SADDR", "DADDR", "DPORT")) ..
  (opts.dns and " QUERY" or ""))

-- -d: the name each address last came from, and when (bcc's cache: a day, 10240 names).
local DNS_TTL, DNS_CACHE_SIZE, DNS_SLOW_MS = 86400, 10240, 100
local dns_cache, dns_cached = {}, 0
local clock = require("bpflua.clock")
if opts.dns then
  local dns = require("bpflua.dns")
  local dns_events = b["dns_events"]
  dns_events:open_ring_buffer(function(_, data)
    local p = dns_events:event(data)
    local name, addresses = dns.answers(ffi.string(p.data, p.len))
    local now = clock.realtime()
    for _, addr in ipairs(addresses or {}) do
      if not dns_cache[addr] then
        dns_cached = dns_cached + 1
        if dns_cached > DNS_CACHE_SIZE then
          dns_cache, dns_cached = {}, 1
        end
      end
      dns_cache[addr] = {name = name, at = now}
    end
  end)
end

-- bcc's QUERY column: the name, with the time since it was resolved when that is long.
local function dns_query(daddr)
  local entry = dns_cache[daddr]
  local now = clock.realtime()
  if entry and now - entry.at > DNS_TTL then
    dns_cache[daddr], entry = nil, nil
  end
  if not entry then
    return (daddr == "127.0.0.1" or daddr == "::1") and "localhost" or "No DNS Query"
  end
  local ms = (now - entry.at) * 1000
  return entry.name .. (ms > DNS_SLOW_MS and string.format(" (%.3fms)", ms) or "")
end
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local line = ""
  if opts.timestamp then
    start_ts = start_ts or e.ts_us
    line = string.format("%-9.3f", tonumber(e.ts_us - start_ts) / 1e6)
  end
  if opts.print_uid then
    line = line .. string.format("%-6d", e.uid)
  end
  local ip = e.family == inet.AF_INET and 4 or 6
  if opts.lport then
    line = line .. string.format("%-7d %-12.12s %-2d %-16s %-6d %-16s %-6d", e.pid, ffi.string(e.task), ip,
      inet.ntop(e.family, e.saddr), e.lport, inet.ntop(e.family, e.daddr), e.dport)
  else
    line = line .. string.format("%-7d %-12.12s %-2d %-16s %-16s %-6d", e.pid, ffi.string(e.task), ip,
      inet.ntop(e.family, e.saddr), inet.ntop(e.family, e.daddr), e.dport)
  end
  if opts.dns then
    line = line .. " " .. dns_query(inet.ntop(e.family, e.daddr))
  end
  print(line)
end)
while true do
  b:ring_buffer_poll()
end
