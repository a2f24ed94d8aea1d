-- trace.lua: attach to functions, tracepoints and USDT-less probes and print a line per call,
-- with bcc trace's probe language: 'p:c:malloc(size_t size) (size > 16) "%d", size'.
local ffi = require("ffi")
local spec = require("bpflua.probe_spec")

local opts = require("bpflua.args").parse(arg, {
  usage = "trace.lua [-h] [-b BUFFER_PAGES] [-p PID] [-L TID] [--uid UID] [-v] [-Z STRING_SIZE]" ..
    " [-S] [-M MAX_EVENTS] [-t] [-u] [-T] [-C] [-n NAME] [-f MSG_FILTER] [-B] [-s SYM_FILE_LIST]" ..
    " [-K] [-U] [-a] [-I header] [-A] probe [probe ...]",
  description = "Attach to functions and print trace messages.",
  {"-b", "--buffer-pages", "buffer_pages", "number",
    "number of pages to use for each probe's ring buffer (default: 64)", default = 64},
  {"-p", "--pid", "tgid", "number", "id of the process to trace (optional)", metavar = "PID"},
  {"-L", "--tid", "tid", "number", "id of the thread to trace (optional)", metavar = "TID"},
  {nil, "--uid", "uid", "number", "id of the user to trace (optional)", metavar = "UID"},
  {"-v", "--verbose", "verbose", "flag", "print resulting BPF program code before executing"},
  {"-Z", "--string-size", "string_size", "number", "maximum size to read from strings",
    default = 80},
  {"-S", "--include-self", "include_self", "flag", "do not filter trace's own pid from the trace"},
  {"-M", "--max-events", "max_events", "number", "number of events to print before quitting"},
  {"-t", "--timestamp", "timestamp", "flag", "print timestamp column (offset from trace start)"},
  {"-u", "--unix-timestamp", "unix_timestamp", "flag",
    "print UNIX timestamp instead of offset from trace start, requires -t"},
  {"-T", "--time", "time", "flag", "print time column"},
  {"-C", "--print_cpu", "print_cpu", "flag", "print CPU id"},
  {"-c", "--cgroup-path", "cgroup_path", "string",
    "cgroup path (not supported: bpflua has no BPF_CGROUP_ARRAY yet)", metavar = "CGROUP_PATH"},
  {"-n", "--name", "name", "string", "only print process names containing this name"},
  {"-f", "--msg-filter", "msg_filter", "string",
    "only print the msg of event containing this string"},
  {"-B", "--bin_cmp", "bin_cmp", "flag", "allow to use STRCMP with binary values"},
  {"-s", "--sym_file_list", "sym_file_list", "string",
    "ignored: symbols come from the traced process's own mappings", metavar = "SYM_FILE_LIST"},
  {"-K", "--kernel-stack", "kernel_stack", "flag", "output kernel stack trace"},
  {"-U", "--user-stack", "user_stack", "flag", "output user stack trace"},
  {"-a", "--address", "address", "flag", "print virtual address in stacks"},
  {"-I", "--include", "include", "list",
    "additional header files to include in the BPF program", metavar = "header"},
  {"-A", "--aggregate", "aggregate", "flag", "aggregate amount of each trace"},
  positional = {{"probe", "list", "probe specifier (see examples)"}},
  examples = [=[probe: [{p,r}]:[library]:function[(signature)] [(filter)] ["format"[, arg...]]
       t:category:event [(filter)] ["format"[, arg...]]
       u:library:probe [(filter)] ["format"[, arg...]]
  arguments: arg1..arg6, retval, $uid, $gid, $pid, $tgid, $cpu, $task, signature names,
  args->field in tracepoints; STRCMP("text", expr) compares a string; format: %s %d %u %x
  %ld %lu %lx %lld %llu %llx %hd %hu %c %K (kernel symbol) %U (user symbol)

examples:
    trace.lua 'p:c:malloc "size = %d", arg1'
        Trace malloc calls and print the size being allocated
    trace.lua 'p:c:malloc(size_t size) (size > 16) "%d", size'
        Trace mallocs of more than 16 bytes, naming the argument
    trace.lua 'r:c:malloc (retval) "allocated = %x", retval'
        Trace returns from malloc and print non-NULL allocated buffers
    trace.lua 'p:c:write (arg1 == 1) "writing %d bytes to STDOUT", arg3'
        Trace the write() call from libc to monitor writes to STDOUT
    trace.lua 't:syscalls:sys_enter_openat "%s", args->filename'
        Trace openat and print the file names
    trace.lua -p 181 -M 10 't:syscalls:sys_enter_openat (STRCMP("/etc/passwd", args->filename))'
        The first 10 opens of /etc/passwd by process 181
    trace.lua 'r::do_sys_openat2 "%d", retval'
        Kernel functions need kprobes (not on every kernel)]=],
})

local function fail(message)
  io.stderr:write(message, "\n")
  os.exit(1)
end

if #opts == 0 then
  fail("trace.lua: at least one probe is required (see -h)")
end
if opts.tgid and opts.tid then
  fail("trace.lua: only one of -p and -L may be specified")
end
if opts.aggregate and not opts.max_events then
  fail("trace.lua: -M/--max-events should be specified with -A/--aggregate")
end
if opts.cgroup_path then
  fail("trace.lua: -c/--cgroup-path is not supported (bpflua has no BPF_CGROUP_ARRAY yet)")
end
if opts.unix_timestamp and not opts.timestamp then
  fail("trace.lua: -u/--unix-timestamp requires -t")
end

ffi.cdef[[int getpid(void);]]
local time_field = opts.timestamp and true or false  -- -t: offsets from the kernel's clock
local stacks = opts.kernel_stack or opts.user_stack

-- The helper functions STRCMP(...) in the probes compiles to.
local strcmp_functions = {}

local function rewrite(p, expr)
  return spec.rewrite(p, spec.rewrite_strcmp(p, expr, strcmp_functions, opts.bin_cmp))
end

local function field_decl(p, i)
  local t = p.types[i]
  if t == "s" then
    return string.format("  char v%d[%d];", i - 1, opts.string_size)
  end
  return string.format("  %s v%d;", spec.FORMAT_TYPES[t], i - 1)
end

local function field_assign(p, i, expr)
  local t = p.types[i]
  if t == "s" then
    local user = p.values[i]:find("@user", 1, true) ~= nil
    return string.format("  __data->v%d[0] = 0;\n", i - 1) ..
      spec.read_string(p, "__data->v" .. (i - 1), expr, user)
  end
  return string.format("  __data->v%d = (%s)(%s);", i - 1, spec.FORMAT_TYPES[t], expr)
end

local function probe_program(p, n)
  p.name = "probe_" .. n
  p.filter_c = rewrite(p, p.filter)
  local fields, assigns = {}, {}
  for i = 1, #p.types do
    fields[#fields + 1] = field_decl(p, i)
    assigns[#assigns + 1] = field_assign(p, i, rewrite(p, p.values[i]))
  end
  local ctx = p.type == "t" and "args" or "ctx"
  local heading
  if p.type == "t" then
    heading = string.format("TRACEPOINT_PROBE(%s, %s)", p.category, p.event)
  else
    heading = string.format("int %s(struct pt_regs *ctx)", p.name)
  end
  local decls = p.type == "u" and spec.usdt_arg_decls(p, p.filter, unpack(p.values)) or
    spec.param_decls(p)
  local exclude_self = not opts.include_self and not opts.tgid and not opts.tid and ffi.C.getpid()
  return string.format([[
struct %s_data {
  u64 timestamp_ns;
  int cpu;
  u32 tgid;
  u32 pid;
  u32 uid;
  int kernel_stack_id;
  int user_stack_id;
  char comm[TASK_COMM_LEN];
%s
};
BPF_RINGBUF_OUTPUT(%s_events, %d);
%s
%s {
  u64 __pid_tgid = bpf_get_current_pid_tgid();
  u32 __tgid = __pid_tgid >> 32;
  u32 __pid = __pid_tgid;
  u32 __uid = bpf_get_current_uid_gid();
%s
%s
%s
  if (!(%s)) return 0;
  struct %s_data *__data = %s_events.ringbuf_reserve(sizeof(struct %s_data));
  if (!__data) return 0;
  __data->timestamp_ns = %s;
  __data->cpu = bpf_get_smp_processor_id();
  __data->tgid = __tgid;
  __data->pid = __pid;
  __data->uid = __uid;
  __data->kernel_stack_id = %s;
  __data->user_stack_id = %s;
  bpf_get_current_comm(&__data->comm, sizeof(__data->comm));
%s
  %s_events.ringbuf_submit(__data, 0);
  return 0;
}
]], p.name, table.concat(fields, "\n"), p.name, opts.buffer_pages,
    stacks and string.format("BPF_STACK_TRACE(%s_stacks, 1024);", p.name) or "",
    heading, decls, spec.pid_filter(opts.tgid, opts.tid, exclude_self),
    opts.uid and string.format("  if (__uid != %d) return 0;", opts.uid) or "",
    p.filter_c, p.name, p.name, p.name,
    time_field and "bpf_ktime_get_ns()" or "0",
    opts.kernel_stack and string.format("%s_stacks.get_stackid(%s, 0)", p.name, ctx) or "-1",
    opts.user_stack and string.format("%s_stacks.get_stackid(%s, BPF_F_USER_STACK)", p.name, ctx)
      or "-1",
    table.concat(assigns, "\n"), p.name)
end

-- Parses every probe, prints the program under -v, compiles, loads and attaches; a bad
-- probe or program is one message and status 1, as bcc's trace exits.
local function start()
  local probes, texts = {}, {}
  for n, text in ipairs(opts) do
    probes[n] = spec.parse_trace(text)
  end
  for n, p in ipairs(probes) do
    texts[n] = probe_program(p, n)
  end
  return spec.load(probes, texts, strcmp_functions, opts, opts.tgid), probes
end

-- -t's origin, taken before any probe can fire, as bcc does.
local first_ts = require("bpflua.clock").monotonic_ns()
local first_ts_real = require("bpflua.clock").realtime()
local started, b, probes = pcall(start)
if not started then
  fail(tostring(b))
end

-- Each value as Python's % renders it for bcc's specifier, for the format's %s.
local function hex(v)
  return string.format("%x", v)
end
local function decimal(v)
  return (tostring(v):gsub("U?LL$", ""))
end
local RENDER = {
  s = ffi.string, c = function(v) return string.char(bit.band(tonumber(v), 0xff)) end,
  x = hex, lx = hex, llx = hex,
}

local event_count, done = 0, false
local aggregate, aggregate_order = {}, {}

local function stack_lines(p, id, tgid, out)
  if id < 0 then
    out[#out + 1] = string.format("        %d\n", id)
    return
  end
  for addr in b[p.name .. "_stacks"]:walk(id) do
    local name = tgid < 0 and b:ksym(addr, true, true) or b:sym(addr, tgid, true, true)
    out[#out + 1] = "        " .. (opts.address and string.format("%16x ", addr) or "") .. name .. "\n"
  end
end

local function print_aggregate()
  table.sort(aggregate_order, function(x, y) return aggregate[x] > aggregate[y] end)
  for _, line in ipairs(aggregate_order) do
    io.write(string.format("%s-->COUNT %d\n\n", line, aggregate[line]))
  end
end

-- One handler per probe, made once: the row, its stacks, the filters on name and message.
local function event_handler(p)
  local events = b[p.name .. "_events"]
  local render, fields = {}, {}
  for i, t in ipairs(p.types) do
    render[i] = RENDER[t] or decimal
    fields[i] = "v" .. (i - 1)
  end
  local values = {}
  return function(_, data)
    if done then
      return
    end
    local e = events:event(data)
    local comm = ffi.string(e.comm)
    if opts.name and not comm:find(opts.name, 1, true) then
      return
    end
    for i, t in ipairs(p.types) do
      local v = e[fields[i]]
      if t == "K" then
        values[i] = b:ksym(v, false, true)
      elseif t == "U" then
        values[i] = b:sym(v, e.tgid, true, true)
      else
        values[i] = render[i](v)
      end
    end
    local msg = p.format and string.format(p.format, unpack(values, 1, #p.types)) or ""
    if opts.msg_filter and not msg:find(opts.msg_filter, 1, true) then
      return
    end
    local out = {}
    if opts.time or opts.timestamp then
      if opts.timestamp then
        local offset = (tonumber(e.timestamp_ns) - first_ts) / 1e9
        if opts.unix_timestamp then
          out[#out + 1] = string.format("%-17s ", string.format("%.6f", offset + first_ts_real):sub(1, 17))
        else
          out[#out + 1] = string.format("%-8s ", string.format("%.6f", offset):sub(1, 8))
        end
      else
        out[#out + 1] = string.format("%-8s ", os.date("%H:%M:%S"))
      end
    end
    if opts.print_cpu then
      out[#out + 1] = string.format("%-3s ", e.cpu)
    end
    out[#out + 1] = string.format("%-7d %-7d %-15s %-16s %s\n", e.tgid, e.pid, comm, p.func, msg)
    if opts.kernel_stack then
      stack_lines(p, e.kernel_stack_id, -1, out)
    end
    if opts.user_stack then
      stack_lines(p, e.user_stack_id, e.tgid, out)
    end
    local line = table.concat(out)
    if opts.aggregate then
      if not aggregate[line] then
        aggregate_order[#aggregate_order + 1] = line
      end
      aggregate[line] = (aggregate[line] or 0) + 1
    else
      io.write(line)
      if stacks then
        io.write("\n")
      end
    end
    event_count = event_count + 1
    if opts.max_events and event_count >= opts.max_events then
      if opts.aggregate then
        print_aggregate()
      end
      done = true
    end
  end
end

io.stdout:setvbuf("line")
local trivial = true
for _, p in ipairs(probes) do
  trivial = trivial and p.format == nil
  b[p.name .. "_events"]:open_ring_buffer(event_handler(p))
end
local header = ""
if opts.time or opts.timestamp then
  header = string.format(opts.unix_timestamp and "%-17s " or "%-8s ", "TIME")
end
if opts.print_cpu then
  header = header .. string.format("%-3s ", "CPU")
end
print(header .. string.format("%-7s %-7s %-15s %-16s %s", "PID", "TID", "COMM", "FUNC",
  trivial and "" or "-"))
while not done do
  b:ring_buffer_poll()
end
