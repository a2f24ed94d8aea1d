-- ugc.lua: garbage collections in a Python or Java process, with their durations, as bcc's
-- ugc does, through the runtime's USDT probes (python:gc__start/gc__done,
-- hotspot:gc__begin/gc__end).
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "ugc.lua [-h] [-l LANGUAGE] [-v] [-m] [-M MINIMUM] [-F FILTER] [-d SECONDS] pid",
  description = "Print each garbage collection of process PID: when it started, how long it took.",
  {"-l", "--language", "language", "string", "python or java (default: from the program's name)"},
  {"-v", "--verbose", "verbose", "flag", "verbose mode: print the BPF program (for debugging purposes)"},
  {"-m", "--milliseconds", "milliseconds", "flag", "report times in milliseconds (default is microseconds)"},
  {"-M", "--minimum", "minimum", "number", "display only GCs at least this long (us, or ms with -m)"},
  {"-F", "--filter", "filter", "string", "display only GCs whose description contains this text"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
  positional = {{"pid", "string", "process id to attach to"}},
})
local pid = tonumber(opts[1])
if not pid then
  io.stderr:write("ugc.lua: give the PID of a Python or Java process (-h for help)\n")
  os.exit(2)
end

-- Each language: its begin and end probes, and how the end event describes the collection
-- (field1 is read at begin, field2 at end).
local LANGUAGES = {
  python = {
    begin = "gc__start", finish = "gc__done",
    read_begin = "bpf_usdt_readarg(1, ctx, &e.field1);",
    read_end = "bpf_usdt_readarg(1, ctx, &e.field2);",
    describe = function(e)
      return string.format("gen %d GC collected %d objects", tonumber(e.field1), tonumber(e.field2))
    end,
  },
  java = {
    begin = "gc__begin", finish = "gc__end",
    read_begin = "bpf_usdt_readarg(1, ctx, &e.field1);",
    read_end = "",
    describe = function(e)
      return tonumber(e.field1) ~= 0 and "full GC" or "GC"
    end,
  },
}

local function detect_language()
  local exe = io.popen("readlink /proc/" .. pid .. "/exe 2>/dev/null"):read("*l") or ""
  if exe:find("python", 1, true) then
    return "python"
  elseif exe:find("java", 1, true) then
    return "java"
  end
  io.stderr:write("ugc.lua: cannot tell the language of process " .. pid .. " (" .. exe .. "); give -l\n")
  os.exit(2)
end

local language = opts.language or detect_language()
local lang = LANGUAGES[language]
if not lang then
  io.stderr:write("ugc.lua: language must be python or java\n")
  os.exit(2)
end

local u = BPF.USDT{pid = pid}
u:enable_probe{probe = lang.begin, fn_name = "trace_gc_begin"}
u:enable_probe{probe = lang.finish, fn_name = "trace_gc_end"}
local text = [[
  struct gc_event { u64 start_ns; u64 elapsed_ns; s64 field1; s64 field2; };
  BPF_HASH(started, u32, struct gc_event);
  BPF_RINGBUF_OUTPUT(events, 16);

  int trace_gc_begin(struct pt_regs *ctx) {
    u32 tid = bpf_get_current_pid_tgid();
    struct gc_event e = {};
    e.start_ns = bpf_ktime_get_ns();
    READ_BEGIN
    started.update(&tid, &e);
    return 0;
  }

  int trace_gc_end(struct pt_regs *ctx) {
    u32 tid = bpf_get_current_pid_tgid();
    struct gc_event *begun = started.lookup(&tid);
    if (!begun) return 0;
    struct gc_event e = *begun;
    started.delete(&tid);
    e.elapsed_ns = bpf_ktime_get_ns() - e.start_ns;
    if (e.elapsed_ns < MINIMUM_NS) return 0;
    READ_END
    events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
]]
if opts.verbose then
  print(text)
end
local b = BPF{text = text, cflags = {
  "-DREAD_BEGIN=" .. lang.read_begin, "-DREAD_END=" .. lang.read_end,
  "-DMINIMUM_NS=" .. math.floor((opts.minimum or 0) * (opts.milliseconds and 1e6 or 1e3)) .. "ULL",
}, usdt_contexts = {u}}

local unit = opts.milliseconds and 1e6 or 1e3
local events = b["events"]
local first
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  first = first or e.start_ns
  local description = lang.describe(e)
  if opts.filter and not description:find(opts.filter, 1, true) then
    return
  end
  print(string.format("%-8.3f %-8.2f %s", tonumber(e.start_ns - first) / 1e9,
    tonumber(e.elapsed_ns) / unit, description))
end)

io.stdout:setvbuf("line")
print(string.format("Tracing garbage collections in %s process %d... Ctrl-C to quit.", language, pid))
print(string.format("%-8s %-8s %-40s", "START", opts.milliseconds and "TIME (ms)" or "TIME (us)", "DESCRIPTION"))
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
