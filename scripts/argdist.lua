-- argdist.lua: count (-C) or histogram (-H) the values of function arguments, return values
-- and tracepoint fields, with bcc argdist's specifiers:
-- 'p:c:malloc(size_t size):size_t:size:size>16#big allocations'.
local ffi = require("ffi")
local spec = require("bpflua.probe_spec")

local opts = require("bpflua.args").parse(arg, {
  usage = "argdist.lua [-h] [-p PID] [-t TID] [-z STRING_SIZE] [-i INTERVAL] [-d DURATION]" ..
    " [-n COUNT] [-v] [-c] [-T TOP] [-H specifier] [-C specifier] [-I header]",
  description = "Trace a function and display a summary of its parameter values.",
  {"-p", "--pid", "pid", "number", "id of the process to trace (optional)"},
  {"-t", "--tid", "tid", "number", "id of the thread to trace (optional)"},
  {"-z", "--string-size", "string_size", "number",
    "maximum string size to read from char* arguments", default = 80},
  {"-i", "--interval", "interval", "number", "output interval, in seconds (default 1 second)",
    default = 1},
  {"-d", "--duration", "duration", "number", "total duration of trace, in seconds"},
  {"-n", "--number", "count", "number", "number of outputs"},
  {"-v", "--verbose", "verbose", "flag", "print resulting BPF program code before executing"},
  {"-c", "--cumulative", "cumulative", "flag",
    "do not clear histograms and freq counts at each interval"},
  {"-T", "--top", "top", "number", "number of top results to show (not applicable to histograms)"},
  {"-H", "--histogram", "histspecifier", "list",
    "probe specifier to capture histogram of (see examples below)", metavar = "specifier"},
  {"-C", "--count", "countspecifier", "list",
    "probe specifier to capture count of (see examples below)", metavar = "specifier"},
  {"-I", "--include", "include", "list",
    "additional header files to include in the BPF program", metavar = "header"},
  examples = [=[Probe specifier syntax:
        {p,r,t,u}:{[library],category}:function(signature)[:type[,type...]:expr[,expr...][:filter]][#label]
Where:
        p,r,t,u    -- probe at function entry, function exit, kernel tracepoint,
                      or USDT probe
                      in exit probes: can use $retval, $entry(param), $latency
        library    -- the library that contains the function
                      (leave empty for kernel functions: they need kprobes)
        category   -- the category of the kernel tracepoint (e.g. net, sched)
        function   -- the function name to trace (or tracepoint name)
        signature  -- the function's parameters, as in the C header
        type       -- the type of the expression to collect (supports multiple)
        expr       -- the expression to collect (supports multiple); $PID, $COMM
        filter     -- the filter that is applied to collected values
        label      -- the label for this probe in the resulting output

examples:
    argdist.lua -p 1005 -C 'p:c:malloc(size_t size):size_t:size:size==16'
        Count how many times process 1005 called malloc with an allocation size of 16 bytes
    argdist.lua -H 'p:c:malloc(size_t size):size_t:size'
        Print a histogram of allocation sizes passed to malloc
    argdist.lua -C 'r:c:gets():char*:(char*)$retval#snooped strings'
        Snoop on all strings returned by gets()
    argdist.lua -H 'r:c:malloc(size_t size):u64:$latency'
        Print a histogram of malloc's latency in nanoseconds
    argdist.lua -p 1005 -C 'p:c:write(int fd):int:fd' -T 5
        The top 5 file descriptors process 1005 writes to
    argdist.lua -p 1005 -H 'r:c:read()'
        Print a histogram of results (sizes) returned by read() in process 1005
    argdist.lua -C 'p:c:fork()#fork calls'
        Count fork() calls in libc across all processes
    argdist.lua -C 't:syscalls:sys_enter_openat():char*:args->filename'
        Count the files opened, by name
    argdist.lua -C 't:raw_syscalls:sys_enter():u32:$COMM:args->id==39'
        Count getpid calls by process name]=],
})

local function fail(message)
  io.stderr:write(message, "\n")
  os.exit(1)
end

local function is_string(t)
  return t:gsub("%s", "") == "char*"
end

-- A return probe that reads an argument or the latency needs an entry probe saving them per
-- thread: $entry(name) is the argument at entry, $latency the nanoseconds since.
local function entry_needs(p)
  local needs, latency = {}, false
  local function scan(expr)
    for name in expr:gmatch("%$entry%((%w+)%)") do
      needs[name] = true
    end
    latency = latency or expr:find("$latency", 1, true) ~= nil
  end
  for _, e in ipairs(p.exprs) do
    scan(e)
  end
  scan(p.filter)
  return needs, latency
end

local function param_type(p, name)
  for _, param in ipairs(p.params) do
    if param.name == name then
      return param.type
    end
  end
  error("error in probe '" .. p.raw .. "': $entry(" .. name .. "): no such param", 0)
end

-- The helper functions STRCMP(...) in the specifiers compiles to.
local strcmp_functions = {}

-- The program of one specifier: its map, its entry probe if it needs one, its probe.
local function probe_program(p, n)
  local base = spec.identifier(p.func)
  p.name, p.map = base .. "_probe" .. n, base .. "_hash" .. n
  if p.type == "r" or p.type == "t" then
    -- A return probe's registers no longer hold the arguments; $entry() reads them.
    p.entry_params, p.params = p.params, {}
  end
  local text, prefix = {}, {}
  local needs, latency = entry_needs(p)
  if p.type == "r" and (next(needs) or latency) then
    local collect = {}
    for name in pairs(needs) do
      local t = param_type({params = p.entry_params, raw = p.raw}, name)
      text[#text + 1] = string.format("BPF_HASH(%s_param_%s, u32, %s);", p.map, name, t)
      collect[#collect + 1] = string.format("  %s_param_%s.update(&__pid, &%s);", p.map, name, name)
      prefix[#prefix + 1] = string.format(
        "  %s *__%s_val = %s_param_%s.lookup(&__pid);\n  if (!__%s_val) return 0;", t, name,
        p.map, name, name)
    end
    if latency then
      text[#text + 1] = string.format("BPF_HASH(%s_param___latency, u32, u64);", p.map)
      collect[#collect + 1] = string.format(
        "  u64 __time = bpf_ktime_get_ns();\n  %s_param___latency.update(&__pid, &__time);", p.map)
      prefix[#prefix + 1] = string.format(
        "  u64 *____latency_val = %s_param___latency.lookup(&__pid);\n" ..
        "  if (!____latency_val) return 0;", p.map)
    end
    p.entry_name = p.name .. "_entry"
    text[#text + 1] = string.format([[
int %s(struct pt_regs *ctx) {
  u64 __pid_tgid = bpf_get_current_pid_tgid();
  u32 __pid = __pid_tgid, __tgid = __pid_tgid >> 32;
%s
%s
%s
  return 0;
}]], p.entry_name, spec.param_decls({params = p.entry_params, type = "p", library = p.library,
      syscall_kprobe = spec.is_syscall_kprobe({type = "p", library = p.library, func = p.func})}),
      spec.pid_filter(opts.pid, opts.tid), table.concat(collect, "\n"))
  end
  local function c_expr(expr)
    expr = expr:gsub("%$entry%((%w+)%)", "(*__%1_val)")
    expr = expr:gsub("%$latency", "(bpf_ktime_get_ns() - *____latency_val)")
    return spec.rewrite(p, spec.rewrite_strcmp(p, expr, strcmp_functions))
  end
  local key, collect
  if p.kind == "hist" then
    text[#text + 1] = string.format("BPF_HISTOGRAM(%s);", p.map)
    key = string.format("  %s __key = %s;", p.expr_types[1], c_expr(p.exprs[1]))
    collect = string.format("  %s.atomic_increment(bpf_log2l(__key));", p.map)
  else
    local fields, assigns = {}, {}
    for i, t in ipairs(p.expr_types) do
      local field = "v" .. (i - 1)
      if is_string(t) then
        fields[i] = string.format("  char %s[%d];", field, opts.string_size)
        if p.exprs[i] == "$COMM" then
          assigns[i] = string.format("  bpf_get_current_comm(&__key.%s, sizeof(__key.%s));", field, field)
        else
          assigns[i] = spec.read_string(p, "__key." .. field, c_expr(p.exprs[i]))
        end
      else
        fields[i] = string.format("  %s %s;", t, field)
        assigns[i] = string.format("  __key.%s = %s;", field, c_expr(p.exprs[i]))
      end
    end
    text[#text + 1] = string.format("struct %s_key_t {\n%s\n};\nBPF_HASH(%s, struct %s_key_t, u64);",
      p.map, table.concat(fields, "\n"), p.map, p.map)
    key = string.format("  struct %s_key_t __key = {};\n%s", p.map, table.concat(assigns, "\n"))
    collect = string.format("  %s.atomic_increment(__key);", p.map)
  end
  local heading = p.type == "t" and string.format("TRACEPOINT_PROBE(%s, %s)", p.category, p.event)
    or string.format("int %s(struct pt_regs *ctx)", p.name)
  text[#text + 1] = string.format([[
%s {
  u64 __pid_tgid = bpf_get_current_pid_tgid();
  u32 __pid = __pid_tgid, __tgid = __pid_tgid >> 32;
%s
%s
%s
%s
  if (!(%s)) return 0;
%s
  return 0;
}]], heading, p.type == "u" and spec.usdt_arg_decls(p, p.filter, unpack(p.exprs)) or spec.param_decls(p),
    spec.pid_filter(opts.pid, opts.tid), table.concat(prefix, "\n"),
    key, c_expr(p.filter), collect)
  return table.concat(text, "\n")
end

local probes = {}
local function start()
  for _, s in ipairs(opts.countspecifier or {}) do
    probes[#probes + 1] = spec.parse_argdist(s, "freq")
  end
  for _, s in ipairs(opts.histspecifier or {}) do
    probes[#probes + 1] = spec.parse_argdist(s, "hist")
  end
  if #probes == 0 then
    error("at least one specifier is required", 0)
  end
  local texts = {}
  for n, p in ipairs(probes) do
    texts[n] = probe_program(p, n)
  end
  local b = spec.load(probes, texts, strcmp_functions, opts, opts.pid)
  for _, p in ipairs(probes) do
    if p.entry_name then
      spec.attach(b, {type = "p", library = p.library, func = p.func, offset = 0, raw = p.raw},
        p.entry_name, opts.pid)
    end
  end
  return b
end

local started, b = pcall(start)
if not started then
  fail(tostring(b))
end

-- An expression as the output shows it: $entry(name) as name.
local function display_expr(expr)
  return (expr:gsub("%$entry%((%w+)%)", "%1"))
end

local function value_text(v)
  if type(v) == "cdata" and tostring(ffi.typeof(v)):find("^ctype<char [^>]*%[%d+%]>$") then
    return ffi.string(v)
  end
  return (tostring(v):gsub("U?LL$", ""))
end

local function key_text(p, key)
  if p.default_expr then
    return p.type == "r" and ("retval = " .. value_text(key.v0)) or "total calls"
  end
  local parts = {}
  for i, expr in ipairs(p.exprs) do
    parts[i] = display_expr(expr) .. " = " .. value_text(key["v" .. (i - 1)])
  end
  return table.concat(parts, ", ")
end

local function display(p)
  local data = b[p.map]
  if p.kind == "freq" then
    print(p.label or p.raw)
    print(string.format("\t%-10s %s", "COUNT", "EVENT"))
    local rows = {}
    for key, count in data:items() do
      rows[#rows + 1] = {count = tonumber(count), text = key_text(p, key)}
    end
    table.sort(rows, function(x, y)
      if x.count ~= y.count then
        return x.count < y.count
      end
      return x.text < y.text
    end)
    local first = opts.top and math.max(1, #rows - opts.top + 1) or 1
    for i = first, #rows do
      print(string.format("\t%-10s %s", rows[i].count, rows[i].text))
    end
  else
    data:print_log2_hist(p.label or (p.default_expr and "retval" or display_expr(p.exprs[1])))
  end
  if not opts.cumulative then
    data:clear()
  end
end

io.stdout:setvbuf("line")
require("bpflua.intervals").run{
  interval = opts.interval, count = opts.count, duration = opts.duration,
  report = function()
    print("[" .. os.date("%H:%M:%S") .. "]")
    for _, p in ipairs(probes) do
      display(p)
    end
  end,
}
