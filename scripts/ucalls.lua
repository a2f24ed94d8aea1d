-- ucalls.lua: method calls in a Python or Java process, counted (and timed with -L), as
-- bcc's ucalls does, through the runtime's USDT probes (python:function__entry/return;
-- hotspot:method__entry/return, which the JVM fires only with -XX:+ExtendedDTraceProbes).
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "ucalls.lua [-h] [-l LANGUAGE] [-T TOP] [-L] [-S] [-v] [-m] [-d SECONDS] pid [interval]",
  description = "Count the method calls of process PID; print the most frequent at the end " ..
    "(or every INTERVAL seconds).",
  {"-l", "--language", "language", "string",
    "python, java, or none to trace syscalls only (default: from the program's name)"},
  {"-T", "--top", "top", "number", "number of most frequent/slow calls to print"},
  {"-L", "--latency", "latency", "flag", "record method latency from enter to exit"},
  {"-S", "--syscalls", "syscalls", "flag", "record syscall latency (adds overhead)"},
  {"-v", "--verbose", "verbose", "flag", "verbose mode: print the BPF program (for debugging purposes)"},
  {"-m", "--milliseconds", "milliseconds", "flag", "report times in milliseconds (default is microseconds)"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
  positional = {{"pid", "string", "process id to attach to"},
                {"interval", "string", "print every specified number of seconds"}},
  examples = [[examples:
    ucalls.lua -l java 185        # trace Java calls and print statistics on ^C
    ucalls.lua -l python 2020 1   # trace Python calls and print every second
    ucalls.lua -l java 185 -S     # trace Java calls and syscalls
    ucalls.lua -l none 6712 -S    # trace only syscall counts
    ucalls.lua -l python 2020 -mL # trace Python calls including latency in ms]],
})
local pid, interval = tonumber(opts[1]), tonumber(opts[2])
if not pid then
  io.stderr:write("ucalls.lua: give the PID of a Python or Java process (-h for help)\n")
  os.exit(2)
end

-- How each language's probes name the method: C that fills struct method_t *m.
local LANGUAGES = {
  python = {
    entry = "function__entry", ret = "function__return",
    read = [[
      u64 file = 0, name = 0;
      bpf_usdt_readarg(1, ctx, &file);
      bpf_usdt_readarg(2, ctx, &name);
      bpf_probe_read_user_str(m->clazz, sizeof(m->clazz), (void *)file);
      bpf_probe_read_user_str(m->method, sizeof(m->method), (void *)name);
    ]],
  },
  java = {
    entry = "method__entry", ret = "method__return",
    read = [[
      u64 clazz = 0, method = 0, clazz_len = 0, method_len = 0;
      bpf_usdt_readarg(2, ctx, &clazz);
      bpf_usdt_readarg(3, ctx, &clazz_len);
      bpf_usdt_readarg(4, ctx, &method);
      bpf_usdt_readarg(5, ctx, &method_len);
      bpf_probe_read_user(m->clazz, clazz_len < sizeof(m->clazz) - 1 ? clazz_len : sizeof(m->clazz) - 1,
                          (void *)clazz);
      bpf_probe_read_user(m->method, method_len < sizeof(m->method) - 1 ? method_len : sizeof(m->method) - 1,
                          (void *)method);
    ]],
  },
}

local function detect_language()
  local exe = io.popen("readlink /proc/" .. pid .. "/exe 2>/dev/null"):read("*l") or ""
  if exe:find("python", 1, true) then
    return "python"
  elseif exe:find("java", 1, true) then
    return "java"
  end
  io.stderr:write("ucalls.lua: cannot tell the language of process " .. pid .. " (" .. exe .. "); give -l\n")
  os.exit(2)
end

local language = opts.language or detect_language()
local lang = LANGUAGES[language]
if not lang and language ~= "none" then
  io.stderr:write("ucalls.lua: language must be python, java or none\n")
  os.exit(2)
end
if not lang and not opts.syscalls then
  io.stderr:write("ucalls.lua: -l none traces syscalls only: give -S\n")
  os.exit(2)
end

-- Without a language (-l none) there are no method probes: an empty read.
local u
if lang then
  u = BPF.USDT{pid = pid}
  u:enable_probe{probe = lang.entry, fn_name = "trace_entry"}
  if opts.latency then
    u:enable_probe{probe = lang.ret, fn_name = "trace_return"}
  end
end
local text = [[
  struct method_t { char clazz[96]; char method[64]; };
  struct entry_t { u64 tid; struct method_t method; };
  struct info_t { u64 calls; u64 total_ns; };
  BPF_HASH(counts, struct method_t, struct info_t, 4096);
  BPF_HASH(entries, struct entry_t, u64, 4096);
  BPF_PERCPU_ARRAY(scratch, struct entry_t, 1);

  static __always_inline struct entry_t *read_method(struct pt_regs *ctx) {
    int zero = 0;
    struct entry_t *e = scratch.lookup(&zero);
    if (!e) return 0;
    __builtin_memset(e, 0, sizeof(*e));
    e->tid = bpf_get_current_pid_tgid();
    struct method_t *m = &e->method;
    ]] .. (lang and lang.read or "") .. [[
    return e;
  }

  int trace_entry(struct pt_regs *ctx) {
    struct entry_t *e = read_method(ctx);
    if (!e) return 0;
  #if LATENCY
    u64 now = bpf_ktime_get_ns();
    entries.update(e, &now);
  #else
    struct info_t zero = {};
    struct info_t *info = counts.lookup_or_try_init(&e->method, &zero);
    if (info) __sync_fetch_and_add(&info->calls, 1);
  #endif
    return 0;
  }

  int trace_return(struct pt_regs *ctx) {
    struct entry_t *e = read_method(ctx);
    if (!e) return 0;
    u64 *start = entries.lookup(e);
    if (!start) return 0;
    u64 elapsed = bpf_ktime_get_ns() - *start;
    entries.delete(e);
    struct info_t zero = {};
    struct info_t *info = counts.lookup_or_try_init(&e->method, &zero);
    if (info) {
      __sync_fetch_and_add(&info->calls, 1);
      __sync_fetch_and_add(&info->total_ns, elapsed);
    }
    return 0;
  }

  /* -S: the process's syscalls, counted (and timed with -L) by number */
  BPF_HASH(syscounts, u32, struct info_t, 1024);
  BPF_HASH(sysentries, u32, u64, 4096);

#if SYSCALLS
  TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != PID) return 0;
  #if LATENCY
    u32 tid = id;
    u64 now = bpf_ktime_get_ns();
    sysentries.update(&tid, &now);
  #else
    u32 nr = args->id;
    struct info_t zero = {};
    struct info_t *info = syscounts.lookup_or_try_init(&nr, &zero);
    if (info) __sync_fetch_and_add(&info->calls, 1);
  #endif
    return 0;
  }

  #if LATENCY
  TRACEPOINT_PROBE(raw_syscalls, sys_exit) {
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != PID) return 0;
    u32 tid = id;
    u64 *start = sysentries.lookup(&tid);
    if (!start) return 0;
    u64 elapsed = bpf_ktime_get_ns() - *start;
    sysentries.delete(&tid);
    u32 nr = args->id;
    struct info_t zero = {};
    struct info_t *info = syscounts.lookup_or_try_init(&nr, &zero);
    if (info) {
      __sync_fetch_and_add(&info->calls, 1);
      __sync_fetch_and_add(&info->total_ns, elapsed);
    }
    return 0;
  }
  #endif
#endif
]]
local cflags = {"-DLATENCY=" .. (opts.latency and 1 or 0), "-DSYSCALLS=" .. (opts.syscalls and 1 or 0),
  "-DPID=" .. pid}
if opts.verbose then
  print(text)
end
local b = BPF{text = text, cflags = cflags, usdt_contexts = u and {u}}

local counts, syscounts = b["counts"], b["syscounts"]
local syscall_name = require("bpflua.syscalls").name
local unit = opts.milliseconds and 1e6 or 1e3

local function report()
  local rows = {}
  for k, v in counts:items() do
    rows[#rows + 1] = {ffi.string(k.clazz) .. "." .. ffi.string(k.method), tonumber(v.calls),
      tonumber(v.total_ns)}
  end
  for k, v in syscounts:items() do  -- bcc lists syscalls by name among the methods
    rows[#rows + 1] = {syscall_name(tonumber(k)), tonumber(v.calls), tonumber(v.total_ns)}
  end
  table.sort(rows, function(x, y)
    if opts.latency then return x[3] > y[3] end
    return x[2] > y[2]
  end)
  if opts.latency then
    print(string.format("%-50s %8s %8s", "METHOD", "# CALLS", opts.milliseconds and "TIME (ms)" or "TIME (us)"))
  else
    print(string.format("%-50s %8s", "METHOD", "# CALLS"))
  end
  for i = 1, math.min(opts.top or #rows, #rows) do
    local r = rows[i]
    if opts.latency then
      print(string.format("%-50s %8d %6.2f", r[1], r[2], r[3] / unit))
    else
      print(string.format("%-50s %8d", r[1], r[2]))
    end
  end
  print()
  counts:clear()
  syscounts:clear()
end

io.stdout:setvbuf("line")
print(string.format("Tracing calls in process %d (language: %s)... Ctrl-C to quit.", pid, language))
require("bpflua.intervals").run{interval = interval, duration = opts.duration, report = report}
