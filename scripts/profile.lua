-- profile.lua: sample stacks on every CPU at a fixed frequency with a perf event, as bcc's
-- profile does, and print them at the end, or folded (one line per stack) for flame graphs:
--   bpflua scripts/profile.lua -f -d 10 > out.folded; flamegraph.pl out.folded > out.svg
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "profile.lua [-p PID] [-F FREQUENCY] [-U | -K] [-I] [-f] [-d SECONDS]",
  description = "Profile CPU usage by sampling stack traces at a timed interval.",
  {"-p", "--pid", "pid", "number", "profile this process only"},
  {"-F", "--frequency", "frequency", "number", "sample frequency in Hertz (default 49)"},
  {"-U", "--user-stacks-only", "user_only", "flag", "show user-space stacks only"},
  {"-K", "--kernel-stacks-only", "kernel_only", "flag", "show kernel stacks only"},
  {"-I", "--include-idle", "include_idle", "flag", "include CPU idle stacks"},
  {"-f", "--folded", "folded", "flag", "output folded format, one line per stack"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
})
if opts.user_only and opts.kernel_only then
  io.stderr:write("profile.lua: -U and -K exclude each other\n")
  os.exit(2)
end

local b = BPF{text = [[
  struct key_t {
    u32 pid;
    int user_stack_id;
    int kernel_stack_id;
    char name[TASK_COMM_LEN];
  };
  BPF_HASH(counts, struct key_t, u64, 40960);
  BPF_STACK_TRACE(stack_traces, 16384);

  int do_perf_event(struct bpf_perf_event_data *ctx) {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (!INCLUDE_IDLE && pid == 0)
      return 0;
    if (PID && pid != PID)
      return 0;
    struct key_t key = {.pid = pid};
    bpf_get_current_comm(&key.name, sizeof(key.name));
    key.user_stack_id = KERNEL_ONLY ? -1 : stack_traces.get_stackid(ctx, BPF_F_USER_STACK);
    key.kernel_stack_id = USER_ONLY ? -1 : stack_traces.get_stackid(ctx, 0);
    counts.increment(key);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DINCLUDE_IDLE=" .. (opts.include_idle and 1 or 0),
              "-DUSER_ONLY=" .. (opts.user_only and 1 or 0),
              "-DKERNEL_ONLY=" .. (opts.kernel_only and 1 or 0)}}

b:attach_perf_event{ev_type = BPF.PerfType.SOFTWARE, ev_config = BPF.PerfSWConfig.CPU_CLOCK,
                    fn_name = "do_perf_event", sample_freq = opts.frequency or 49}

local stacks = b["stack_traces"]

local function frames(id, name_of)
  local list = {}
  for addr in stacks:walk(id) do
    list[#list + 1] = name_of(addr)
  end
  return list
end

local function report()
  local rows = {}
  for key, count in b["counts"]:items() do
    rows[#rows + 1] = {key = key, count = count}
  end
  table.sort(rows, function(x, y) return x.count < y.count end)
  for _, row in ipairs(rows) do
    local k, pid = row.key, row.key.pid
    local name = ffi.string(k.name)
    local user = frames(k.user_stack_id, function(addr) return b:sym(addr, pid) end)
    local kernel = frames(k.kernel_stack_id, BPF.ksym)
    if #user + #kernel == 0 and (opts.user_only or opts.kernel_only) then
      -- A sample from the other side (user code under -K, say) has nothing to show.
    elseif opts.folded then
      -- Outermost first, kernel frames after user frames and marked as bcc marks them.
      local line = {name}
      for i = #user, 1, -1 do
        line[#line + 1] = user[i]
      end
      for i = #kernel, 1, -1 do
        line[#line + 1] = kernel[i] .. "_[k]"
      end
      print(string.format("%s %d", table.concat(line, ";"), row.count))
    else
      for _, f in ipairs(kernel) do
        print("    " .. f)
      end
      if #kernel > 0 and #user > 0 then
        print("    --")
      end
      for _, f in ipairs(user) do
        print("    " .. f)
      end
      print(string.format("    %-16s %s (%d)", "-", name, pid))
      print(string.format("        %d\n", row.count))
    end
  end
end

io.stdout:setvbuf("line")
if not opts.folded then
  print(string.format("Sampling at %d Hertz of %s by %s stack%s... Hit Ctrl-C to end.",
    opts.frequency or 49, opts.pid and ("PID " .. opts.pid) or "all threads",
    opts.user_only and "user" or opts.kernel_only and "kernel" or "user + kernel",
    opts.duration and (" for " .. opts.duration .. " secs") or ""))
end
require("bpflua.intervals").run{duration = opts.duration, report = report}
