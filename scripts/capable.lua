-- capable.lua: trace security capability checks (cap_capable), as bcc's capable.
-- Probes: bcc's kprobe on cap_capable where the kernel has kprobes (it sees the check's
-- options: AUDIT, INSETID); else the capability:cap_capable tracepoint (Linux 6.14+), which
-- does not carry the options: AUDIT and INSETID print N/A and every check is shown.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "capable.lua [-h] [-v] [-p PID] [-K] [-U] [-x] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [--unique]",
  description = "Trace security capability checks",
  {"-v", "--verbose", "verbose", "flag", "include non-audit checks"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-K", "--kernel-stack", "kernel_stack", "flag", "output kernel stack trace"},
  {"-U", "--user-stack", "user_stack", "flag", "output user stack trace"},
  {"-x", "--extra", "extra", "flag", "show extra fields in TID and INSETID columns"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  {nil, "--unique", "unique", "flag", "don't repeat stacks for the same pid or cgroup"},
  examples = [[examples:
    capable.lua             # trace capability checks
    capable.lua -v          # verbose: include non-audit checks
    capable.lua -p 181      # only trace PID 181
    capable.lua -K          # add kernel stacks to trace
    capable.lua -U          # add user-space stacks to trace
    capable.lua -x          # extra fields: show TID and INSETID columns
    capable.lua --unique    # don't repeat stacks for the same pid or cgroup
    capable.lua --cgroupmap mappath  # only trace cgroups in this BPF map
    capable.lua --mntnsmap mappath   # only trace mount namespaces in the map
Probes the kprobe cap_capable, as bcc does; on a kernel without kprobes, the
capability:cap_capable tracepoint (Linux 6.14+), which does not say whether a check is
audited: there AUDIT and INSETID are N/A and non-audit checks are shown too.]],
})

local NAMES = {
  [0] = "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
  "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
  "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
  "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
  "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
  "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
  "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
  "CAP_CHECKPOINT_RESTORE",
}

local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil
if not has_kprobes and not BPF.tracepoint_exists("capability", "cap_capable") then
  io.stderr:write("capable.lua: this kernel has neither kprobes (for cap_capable) nor the " ..
    "capability:cap_capable tracepoint (Linux 6.14+)\n")
  os.exit(1)
end

ffi.cdef("int getpid(void);")
local b = BPF{text = args.container_filter("capable.lua", opts) .. [[
  struct data_t {
    u32 tgid, pid, uid;
    int cap, audit, insetid;
    char comm[TASK_COMM_LEN];
    int kernel_stack_id, user_stack_id;
  };
  struct repeat_t { int cap; u32 tgid; u64 cgroupid; int kernel_stack_id; int user_stack_id; };
  BPF_HASH(seen, struct repeat_t, u64, 10240);
  BPF_STACK_TRACE(stacks, 2048);
  BPF_RINGBUF_OUTPUT(events, 64);

  /* audit, insetid: -1 where the probe does not know them */
  static int check(void *ctx, int cap, int audit, int insetid)
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 tgid = pid_tgid >> 32, pid = pid_tgid;
    if (PID && tgid != PID) return 0;
    if (!VERBOSE && audit == 0) return 0;
    if (tgid == SELF) return 0;   /* the tool's own checks (bpf(), perf_event_open()) */
    if (container_should_be_filtered()) return 0;
    struct data_t data = {.tgid = tgid, .pid = pid, .uid = bpf_get_current_uid_gid(),
                          .cap = cap, .audit = audit, .insetid = insetid,
                          .kernel_stack_id = -1, .user_stack_id = -1};
    if (KERNEL_STACKS) data.kernel_stack_id = stacks.get_stackid(ctx, 0);
    if (USER_STACKS) data.user_stack_id = stacks.get_stackid(ctx, BPF_F_USER_STACK);
    if (UNIQUE) {
      struct repeat_t repeat = {.cap = cap, .tgid = tgid,
                                .kernel_stack_id = data.kernel_stack_id,
                                .user_stack_id = data.user_stack_id};
      if (seen.lookup(&repeat)) return 0;
      u64 zero = 0;
      seen.update(&repeat, &zero);
    }
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    events.ringbuf_output(&data, sizeof(data), 0);
    return 0;
  }

  /* cap_opt's bits (include/linux/security.h): CAP_OPT_NOAUDIT 0b10, CAP_OPT_INSETID 0b100 */
  int trace_cap_capable(struct pt_regs *ctx, const struct cred *cred,
                        struct user_namespace *targ_ns, int cap, int cap_opt)
  {
    return check(ctx, cap, (cap_opt & 0x2) == 0, (cap_opt & 0x4) != 0);
  }
]] .. (has_kprobes and "" or [[
  TRACEPOINT_PROBE(capability, cap_capable) { return check(args, args->cap, -1, -1); }
]]), cflags = {"-DPID=" .. (opts.pid or 0), "-DVERBOSE=" .. (opts.verbose and 1 or 0),
              "-DSELF=" .. ffi.C.getpid(), "-DKERNEL_STACKS=" .. (opts.kernel_stack and 1 or 0),
              "-DUSER_STACKS=" .. (opts.user_stack and 1 or 0), "-DUNIQUE=" .. (opts.unique and 1 or 0)}}
if has_kprobes then
  b:attach_kprobe{event = "cap_capable", fn_name = "trace_cap_capable"}
end

io.stdout:setvbuf("line")
if opts.extra then
  print(string.format("%-9s %-6s %-6s %-6s %-16s %-4s %-20s %-6s %s", "TIME", "UID", "PID", "TID",
    "COMM", "CAP", "NAME", "AUDIT", "INSETID"))
else
  print(string.format("%-9s %-6s %-6s %-16s %-4s %-20s %-6s", "TIME", "UID", "PID", "COMM", "CAP",
    "NAME", "AUDIT"))
end

local EFAULT = 14
local stacks = b["stacks"]
local function print_stack(id, kind, tgid)
  -- -EFAULT: no stack of that kind here (a kernel thread's user stack), as bcc says nothing
  if id < 0 and id ~= -EFAULT then
    print("    [Missed " .. kind .. " Stack]")
    return
  end
  if id < 0 then
    return
  end
  for addr in stacks:walk(id) do
    print("        " .. (tgid and b:sym(addr, tgid, true, true) or b:ksym(addr, true, true)))
  end
end

local function known(v)
  return v == -1 and "N/A" or tostring(v)
end

local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local name = NAMES[e.cap] or "?"
  if opts.extra then
    print(string.format("%-9s %-6d %-6d %-6d %-16s %-4d %-20s %-6s %s", os.date("%H:%M:%S"), e.uid,
      e.tgid, e.pid, ffi.string(e.comm), e.cap, name, known(e.audit), known(e.insetid)))
  else
    print(string.format("%-9s %-6d %-6d %-16s %-4d %-20s %-6s", os.date("%H:%M:%S"), e.uid, e.tgid,
      ffi.string(e.comm), e.cap, name, known(e.audit)))
  end
  if opts.kernel_stack then
    print_stack(e.kernel_stack_id, "Kernel")
  end
  if opts.user_stack then
    print_stack(e.user_stack_id, "User", e.tgid)
  end
end)
while true do
  b:ring_buffer_poll()
end
