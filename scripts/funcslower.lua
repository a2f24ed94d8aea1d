-- funcslower.lua: trace calls slower than a threshold, as bcc's funcslower: user functions
-- ("c:open") through uprobes and uretprobes, kernel functions through kprobes where the
-- kernel has them; each slow call with its latency, return value, and optionally its first
-- arguments and its stacks.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "funcslower.lua [-h] [-p PID] [-m MIN_MS] [-u MIN_US] [-a ARGUMENTS] [-T] [-t] [-v] [-f] " ..
    "[-U] [-K] function [function ...]",
  description = "Trace slow kernel or user function calls.",
  {"-p", "--pid", "tgid", "number", "trace this PID only", metavar = "PID"},
  {"-m", "--min-ms", "min_ms", "number", "minimum duration to trace (ms)"},
  {"-u", "--min-us", "min_us", "number", "minimum duration to trace (us)"},
  {"-a", "--arguments", "arguments", "number", "print this many entry arguments, as hex"},
  {"-T", "--time", "time", "flag", "show HH:MM:SS timestamp"},
  {"-t", "--timestamp", "timestamp", "flag", "show timestamp in seconds at us resolution"},
  {"-v", "--verbose", "verbose", "flag", "print the BPF program for debugging purposes"},
  {"-f", "--folded", "folded", "flag", "output folded format, one line per stack (for flame graphs)"},
  {"-U", "--user-stack", "user_stack", "flag", "output user stack trace"},
  {"-K", "--kernel-stack", "kernel_stack", "flag", "output kernel stack trace"},
  positional = {{"function", "list", "function(s) to trace"}},
  examples = [[examples:
  funcslower.lua vfs_write        # trace vfs_write calls slower than 1ms
  funcslower.lua -m 10 vfs_write  # same, but slower than 10ms
  funcslower.lua -u 10 c:open     # trace open calls slower than 10us
  funcslower.lua -p 135 c:open    # trace pid 135 only
  funcslower.lua c:malloc c:free  # trace both malloc and free slower than 1ms
  funcslower.lua -a 2 c:open      # show first two arguments to open
  funcslower.lua -U -K -m 10 c:open # Show user and kernel stack frame of open calls slower than 10ms
  funcslower.lua -f -U -K c:open  # Output in folded format for flame graphs]],
})

local functions = {}
for i = 1, #opts do
  functions[i] = opts[i]
end
if #functions == 0 then
  io.stderr:write("funcslower.lua: name at least one function, e.g. c:open\n")
  os.exit(2)
end
if opts.arguments and (opts.arguments < 0 or opts.arguments > 6) then
  io.stderr:write("funcslower.lua: -a takes 0 to 6 arguments\n")
  os.exit(2)
end

local duration_ns = 1000000
if opts.min_ms then
  duration_ns = math.floor(opts.min_ms * 1000000)
elseif opts.min_us then
  duration_ns = math.floor(opts.min_us * 1000)
end

-- One entry program per function, to know which was called; one return program for all.
local text = {[[
  #ifndef PT_REGS_PARM6
  #define PT_REGS_PARM6(x) ((x)->r9)  /* x86-64's sixth argument register; libbpf 1.1 lacks it */
  #endif
  struct entry_t {
    u64 id;
    u64 start_ns;
    u64 args[6];
    int user_stack_id;
    int kernel_stack_id;
  };
  struct data_t {
    u64 id;
    u64 tgid_pid;
    u64 start_ns;
    u64 duration_ns;
    u64 retval;
    char comm[TASK_COMM_LEN];
    u64 args[6];
    int user_stack_id;
    int kernel_stack_id;
  };
  BPF_HASH(entryinfo, u64, struct entry_t);
  BPF_RINGBUF_OUTPUT(events, 256);
  BPF_STACK_TRACE(stacks, 2048);

  static int trace_entry(struct pt_regs *ctx, int id) {
    u64 tgid_pid = bpf_get_current_pid_tgid();
    if (TGID && (tgid_pid >> 32) != TGID) return 0;
    struct entry_t entry = {.id = id, .start_ns = bpf_ktime_get_ns()};
    if (GRAB_ARGS) {
      entry.args[0] = PT_REGS_PARM1(ctx);
      entry.args[1] = PT_REGS_PARM2(ctx);
      entry.args[2] = PT_REGS_PARM3(ctx);
      entry.args[3] = PT_REGS_PARM4(ctx);
      entry.args[4] = PT_REGS_PARM5(ctx);
      entry.args[5] = PT_REGS_PARM6(ctx);
    }
    entry.user_stack_id = USER_STACKS ? stacks.get_stackid(ctx, BPF_F_USER_STACK) : -1;
    entry.kernel_stack_id = KERNEL_STACKS ? stacks.get_stackid(ctx, 0) : -1;
    entryinfo.update(&tgid_pid, &entry);
    return 0;
  }

  int trace_return(struct pt_regs *ctx) {
    u64 tgid_pid = bpf_get_current_pid_tgid();
    struct entry_t *entry = entryinfo.lookup(&tgid_pid);
    if (!entry) return 0;
    u64 now = bpf_ktime_get_ns();
    u64 delta = now - entry->start_ns;
    if (delta < DURATION_NS) {
      entryinfo.delete(&tgid_pid);
      return 0;
    }
    struct data_t *data = events.ringbuf_reserve(sizeof(struct data_t));
    if (data) {
      data->id = entry->id;
      data->tgid_pid = tgid_pid;
      data->start_ns = entry->start_ns;
      data->duration_ns = delta;
      data->retval = PT_REGS_RC(ctx);
      __builtin_memcpy(data->args, entry->args, sizeof(data->args));
      data->user_stack_id = entry->user_stack_id;
      data->kernel_stack_id = entry->kernel_stack_id;
      bpf_get_current_comm(&data->comm, sizeof(data->comm));
      events.ringbuf_submit(data, 0);
    }
    entryinfo.delete(&tgid_pid);
    return 0;
  }
]]}
for i = 1, #functions do
  text[#text + 1] = string.format("int trace_%d(struct pt_regs *ctx) { return trace_entry(ctx, %d); }",
    i - 1, i - 1)
end
text = table.concat(text, "\n")
if opts.verbose then
  print(text)
end

local b = BPF{text = text, cflags = {"-DTGID=" .. (opts.tgid or 0), "-DDURATION_NS=" .. duration_ns .. "ULL",
  "-DGRAB_ARGS=" .. ((opts.arguments or 0) > 0 and 1 or 0),
  "-DUSER_STACKS=" .. (opts.user_stack and 1 or 0), "-DKERNEL_STACKS=" .. (opts.kernel_stack and 1 or 0)}}

for i, fn in ipairs(functions) do
  local library, func = fn:match("^([^:]*):(.+)$")
  if library then
    b:attach_uprobe{name = library, sym = func, fn_name = "trace_" .. (i - 1), pid = opts.tgid}
    b:attach_uretprobe{name = library, sym = func, fn_name = "trace_return", pid = opts.tgid}
  else
    local ok, err = pcall(function()
      b:attach_kprobe{event = fn, fn_name = "trace_" .. (i - 1)}
      b:attach_kretprobe{event = fn, fn_name = "trace_return"}
    end)
    if not ok then
      io.stderr:write("funcslower.lua: kernel functions need kprobes, which this kernel refused: " ..
        tostring(err) .. "\n(user functions, as lib:function, work without them)\n")
      os.exit(1)
    end
  end
end

local time_designator = opts.min_us and "us" or "ms"
local time_value = opts.min_us or opts.min_ms or 1
local time_multiplier = opts.min_us and 1000 or 1000000
local time_col = opts.time or opts.timestamp

local earliest_ts = 0
local function time_str(e)
  if opts.time then
    return string.format("%-10s ", os.date("%H:%M:%S"))
  end
  if opts.timestamp then
    if earliest_ts == 0 then
      earliest_ts = e.start_ns
    end
    return string.format("%-10.6f ", tonumber(e.start_ns - earliest_ts) / 1e9)
  end
  return ""
end

local function args_str(e)
  if not opts.arguments or opts.arguments == 0 then
    return ""
  end
  local list = {}
  for i = 0, opts.arguments - 1 do
    list[#list + 1] = "0x" .. bit.tohex(e.args[i], 16):gsub("^0+(.)", "%1")
  end
  return table.concat(list, " ")
end

local function frames(id, name_of)
  local list = {}
  if id > 0 then
    for addr in b["stacks"]:walk(id) do
      list[#list + 1] = name_of(addr)
    end
  end
  return list
end

local function print_stack(e)
  local pid = tonumber(bit.rshift(e.tgid_pid, 32))
  local user = opts.user_stack and frames(e.user_stack_id, function(addr) return b:sym(addr, pid) end) or {}
  local kernel = opts.kernel_stack and frames(e.kernel_stack_id, function(addr) return BPF.ksym(addr) end) or {}
  if opts.folded then
    local line = {ffi.string(e.comm)}
    for i = #user, 1, -1 do
      line[#line + 1] = user[i]
    end
    if #user > 0 and #kernel > 0 then
      line[#line + 1] = "-"
    end
    for i = #kernel, 1, -1 do
      line[#line + 1] = kernel[i]
    end
    print(table.concat(line, ";") .. " 1")
    return
  end
  for _, f in ipairs(kernel) do
    print("    " .. f)
  end
  for _, f in ipairs(user) do
    print("    " .. f)
  end
end

local events = b["events"]
local function print_event(_, data)
  local e = events:event(data)
  if not opts.folded then
    local a = args_str(e)
    print(string.format("%s%-14.14s %-6s %7.2f %16s %s %s", time_str(e), ffi.string(e.comm),
      tostring(tonumber(bit.rshift(e.tgid_pid, 32))), tonumber(e.duration_ns) / time_multiplier,
      bit.tohex(e.retval, 16):gsub("^0+(.)", "%1"), functions[tonumber(e.id) + 1], a))
  end
  if opts.user_stack or opts.kernel_stack then
    print_stack(e)
  end
end

io.stdout:setvbuf("line")
if not opts.folded then
  print(string.format("Tracing function calls slower than %g %s... Ctrl+C to quit.", time_value, time_designator))
  print(string.format((time_col and string.format("%-10s ", "TIME") or "") .. "%-14s %-6s %7s %16s %s",
    "COMM", "PID", "LAT(" .. time_designator .. ")", "RVAL", "FUNC" .. (opts.arguments and " ARGS" or "")))
end
events:open_ring_buffer(print_event)
while true do
  b:ring_buffer_poll()
end
