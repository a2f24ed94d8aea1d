-- tcpretrans.lua: trace TCP retransmits, as bcc's tcpretrans, from the tcp:tcp_retransmit_skb
-- tracepoint (and tcp:tcp_send_loss_probe for -l, on kernels that have it): the flow, its
-- state, and with -s the segment's sequence number; -c counts them per flow instead.
local BPF = require("bpflua")
local inet = require("bpflua.inet")
local opts = require("bpflua.args").parse(arg, {
  usage = "tcpretrans.lua [-h] [-s] [-l] [-c] [-4 | -6]",
  description = "Trace TCP retransmits",
  {"-s", "--sequence", "sequence", "flag", "display TCP sequence numbers"},
  {"-l", "--lossprobe", "lossprobe", "flag", "include tail loss probe attempts"},
  {"-c", "--count", "count", "flag", "count occurred retransmits per flow"},
  {"-4", "--ipv4", "ipv4", "flag", "trace IPv4 family only"},
  {"-6", "--ipv6", "ipv6", "flag", "trace IPv6 family only"},
  examples = [[examples:
    tcpretrans.lua           # trace TCP retransmits
    tcpretrans.lua -l        # include TLP attempts
    tcpretrans.lua -4        # trace IPv4 family only
    tcpretrans.lua -6        # trace IPv6 family only]],
})
if opts.ipv4 and opts.ipv6 then
  io.stderr:write("tcpretrans.lua: argument -6/--ipv6: not allowed with argument -4/--ipv4\n")
  os.exit(2)
end
if opts.lossprobe and not BPF.tracepoint_exists("tcp", "tcp_send_loss_probe") then
  io.stderr:write("tcpretrans.lua: -l needs the tcp:tcp_send_loss_probe tracepoint (Linux 6.11 and later) " ..
    "or kprobes; this kernel has neither\n")
  os.exit(1)
end

-- Both tracepoints carry the same flow fields; one body serves both, the type (R or L) told.
local text = [[
  #define RETRANSMIT 1
  #define TLP 2
  struct event_t {
    u64 seq;
    u32 pid;
    u16 lport, dport;
    u16 family;
    u8 type;
    u8 state;
    u8 saddr[16], daddr[16];
  };
  struct flow_t {
    u8 saddr[16], daddr[16];
    u16 lport, dport;
    u16 family;
    u16 pad;
  };
  BPF_RINGBUF_OUTPUT(events, 64);
  BPF_HASH(counts, struct flow_t, u64);

  #define TRACE_FLOW(TYPE)                                                            \
    u16 family = args->family;                                                       \
    if (FAMILY && family != FAMILY) return 0;                                        \
    struct flow_t flow = {.lport = args->sport, .dport = args->dport, .family = family}; \
    if (family == AF_INET) {                                                         \
      __builtin_memcpy(flow.saddr, args->saddr, 4);                                  \
      __builtin_memcpy(flow.daddr, args->daddr, 4);                                  \
    } else {                                                                         \
      __builtin_memcpy(flow.saddr, args->saddr_v6, 16);                              \
      __builtin_memcpy(flow.daddr, args->daddr_v6, 16);                              \
    }                                                                                \
    if (COUNT) {                                                                     \
      counts.increment(flow);                                                        \
      return 0;                                                                      \
    }                                                                                \
    struct event_t *e = events.ringbuf_reserve(sizeof(struct event_t));              \
    if (!e) return 0;                                                                \
    e->type = TYPE;                                                                  \
    e->pid = bpf_get_current_pid_tgid() >> 32;                                       \
    e->family = family;                                                              \
    e->lport = flow.lport;                                                           \
    e->dport = flow.dport;                                                           \
    e->state = args->state;                                                          \
    __builtin_memcpy(e->saddr, flow.saddr, 16);                                      \
    __builtin_memcpy(e->daddr, flow.daddr, 16);                                      \
    e->seq = 0;                                                                      \
    if (SEQUENCE) {                                                                  \
      struct sk_buff *skb = (struct sk_buff *)args->skbaddr;                         \
      struct tcp_skb_cb *tcb = (struct tcp_skb_cb *)&skb->cb[0];  /* TCP_SKB_CB */   \
      u32 seq = 0;                                                                   \
      bpf_probe_read_kernel(&seq, sizeof(seq), &tcb->seq);                           \
      e->seq = seq;                                                                  \
    }                                                                                \
    events.ringbuf_submit(e, 0);                                                     \
    return 0;

  TRACEPOINT_PROBE(tcp, tcp_retransmit_skb) { TRACE_FLOW(RETRANSMIT) }
]]
if opts.lossprobe then
  text = text .. "  TRACEPOINT_PROBE(tcp, tcp_send_loss_probe) { TRACE_FLOW(TLP) }\n"
end
local family = opts.ipv4 and inet.AF_INET or opts.ipv6 and inet.AF_INET6 or 0
local b = BPF{text = text, cflags = {"-DFAMILY=" .. family, "-DAF_INET=" .. inet.AF_INET,
  "-DCOUNT=" .. (opts.count and 1 or 0), "-DSEQUENCE=" .. (opts.sequence and 1 or 0)}}

local TYPES = {"R", "L"}
local events = b["events"]

local function print_event(_, data)
  local e = events:event(data)
  local line = string.format("%-8s %-7d %-2d %-20s %1s> %-20s", os.date("%H:%M:%S"), e.pid,
    e.family == inet.AF_INET and 4 or 6, inet.ntop(e.family, e.saddr) .. ":" .. e.lport,
    TYPES[e.type], inet.ntop(e.family, e.daddr) .. ":" .. e.dport)
  if opts.sequence then
    print(string.format("%s %-12s %s", line, inet.tcp_state(e.state), tostring(e.seq):gsub("ULL$", "")))
  else
    print(line .. " " .. inet.tcp_state(e.state))
  end
end

io.stdout:setvbuf("line")
print("Tracing retransmits ... Hit Ctrl-C to end")
if opts.count then
  local ok, err
  repeat
    ok, err = pcall(BPF.sleep, 3600)
  until not ok
  print(string.format("\n%-25s %-25s %-10s", "LADDR:LPORT", "RADDR:RPORT", "RETRANSMITS"))
  local rows = {}
  for flow, count in b["counts"]:items() do
    rows[#rows + 1] = {flow = flow, count = tonumber(count)}
  end
  table.sort(rows, function(x, y)
    if (x.flow.family == inet.AF_INET) ~= (y.flow.family == inet.AF_INET) then
      return x.flow.family == inet.AF_INET  -- bcc prints the IPv4 flows first
    end
    return x.count < y.count
  end)
  for _, row in ipairs(rows) do
    local f = row.flow
    print(string.format("%-20s <-> %-20s %10d",
      string.format("[%s]#%d", inet.ntop(f.family, f.saddr), f.lport),
      string.format("[%s]#%d", inet.ntop(f.family, f.daddr), f.dport), row.count))
  end
  error(err, 0)
end
print(string.format("%-8s %-7s %-2s %-20s %1s> %-20s", "TIME", "PID", "IP", "LADDR:LPORT", "T",
  "RADDR:RPORT") .. (opts.sequence and string.format(" %-12s %-10s", "STATE", "SEQ") or
  string.format(" %-4s", "STATE")))
events:open_ring_buffer(print_event)
while true do
  b:ring_buffer_poll()
end
