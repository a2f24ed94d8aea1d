-- tcpaccept.lua: trace TCP accepts (passive connections), as bcc's tcpaccept.
-- Probes: where accept(2)/accept4(2) return (syscalls tracepoints): the new descriptor's
-- socket gives the ends and ports, the returning process the PID and COMM. bcc uses a
-- kretprobe on inet_csk_accept, which also sees accepts made inside the kernel; this works
-- without kprobes and sees what processes accept.
local BPF = require("bpflua")
local ffi = require("ffi")
local inet = require("bpflua.inet")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "tcpaccept.lua [-h] [-T] [-t] [-p PID] [-P PORT] [-4 | -6] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP]",
  description = "Trace TCP accepts",
  {"-T", "--time", "time", "flag", "include time column on output (HH:MM:SS)"},
  {"-t", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-P", "--port", "port", "string", "comma-separated list of local ports to trace"},
  {"-4", "--ipv4", "ipv4", "flag", "trace IPv4 family only"},
  {"-6", "--ipv6", "ipv6", "flag", "trace IPv6 family only"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  examples = [[examples:
    tcpaccept.lua           # trace all TCP accept()s
    tcpaccept.lua -t        # include timestamps
    tcpaccept.lua -P 80,81  # only trace port 80 and 81
    tcpaccept.lua -p 181    # only trace PID 181
    tcpaccept.lua --cgroupmap mappath  # only trace cgroups in this BPF map
    tcpaccept.lua --mntnsmap mappath   # only trace mount namespaces in the map
    tcpaccept.lua -4        # trace IPv4 family
    tcpaccept.lua -6        # trace IPv6 family
Probes the return of accept() and accept4() (syscalls tracepoints), where bcc probes
inet_csk_accept with a kretprobe: accepts made inside the kernel are not seen.]],
})
if opts.ipv4 and opts.ipv6 then
  io.stderr:write("tcpaccept.lua: argument -6/--ipv6: not allowed with argument -4/--ipv4\n")
  os.exit(2)
end
local ok, ports = pcall(inet.port_set, opts.port)
if not ok then
  io.stderr:write("tcpaccept.lua: " .. ports .. "\n")
  os.exit(2)
end
local family = opts.ipv4 and inet.AF_INET or opts.ipv6 and inet.AF_INET6 or 0

local b = BPF{text = args.container_filter("tcpaccept.lua", opts) .. require("bpflua.fd_file").c .. [[
  struct event {
    u64 ts_us;
    u32 pid, family;
    u16 lport, dport;
    u8 saddr[16], daddr[16];
    char task[TASK_COMM_LEN];
  };
  BPF_RINGBUF_OUTPUT(events, 64);

  /* The socket behind the descriptor fd of the current process, or NULL. */
  static struct sock *sock_of_fd(long fd)
  {
    struct file *file = file_of_fd(fd);
    if (!file) return NULL;
    struct socket *socket = (struct socket *)BPF_CORE_READ(file, private_data);
    return socket ? BPF_CORE_READ(socket, sk) : NULL;
  }

  static int accepted(long fd)
  {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (PID && pid != PID) return 0;
    if (container_should_be_filtered()) return 0;
    struct sock *sk = sock_of_fd(fd);
    if (!sk) return 0;
    u16 fam = BPF_CORE_READ(sk, __sk_common.skc_family);
    if (fam != AF_INET && fam != AF_INET6) return 0;
    if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
    if (FAMILY && fam != FAMILY) return 0;
    u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
    if (!(PORT_FILTER)) return 0;
    struct event *e = events.ringbuf_reserve(sizeof(struct event));
    if (!e) return 0;
    e->ts_us = bpf_ktime_get_ns() / 1000;
    e->pid = pid;
    e->family = fam;
    e->lport = lport;
    e->dport = ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
    if (fam == AF_INET) {
      bpf_core_read(e->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
      bpf_core_read(e->daddr, 4, &sk->__sk_common.skc_daddr);
    } else {
      bpf_core_read(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
      bpf_core_read(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
    }
    bpf_get_current_comm(&e->task, sizeof(e->task));
    events.ringbuf_submit(e, 0);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_accept) { return accepted(args->ret); }
  TRACEPOINT_PROBE(syscalls, sys_exit_accept4) { return accepted(args->ret); }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DFAMILY=" .. family,
              "-DPORT_FILTER=" .. inet.port_filter(ports, "lport")}}

io.stdout:setvbuf("line")
print((opts.time and string.format("%-9s", "TIME") or "") ..
  (opts.timestamp and string.format("%-9s", "TIME(s)") or "") ..
  string.format("%-7s %-12s %-2s %-16s %-5s %-16s %-5s", "PID", "COMM", "IP", "RADDR", "RPORT",
    "LADDR", "LPORT"))

local events = b["events"]
local start_us
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local line = opts.time and string.format("%-9s", os.date("%H:%M:%S")) or ""
  if opts.timestamp then
    start_us = start_us or e.ts_us
    line = line .. string.format("%-9.3f", tonumber(e.ts_us - start_us) / 1e6)
  end
  print(line .. string.format("%-7d %-12.12s %-2d %-16s %-5d %-16s %-5d", e.pid, ffi.string(e.task),
    e.family == inet.AF_INET and 4 or 6, inet.ntop(e.family, e.daddr), e.dport,
    inet.ntop(e.family, e.saddr), e.lport))
end)
while true do
  b:ring_buffer_poll()
end
