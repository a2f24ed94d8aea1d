-- uthreads.lua: threads starting and stopping in a process, as bcc's uthreads does: Java
-- threads through hotspot:thread__start/thread__stop (USDT), or, with -l none, every
-- pthread_create() with its start routine.
local BPF = require("bpflua")
local ffi = require("ffi")
local opts = require("bpflua.args").parse(arg, {
  usage = "uthreads.lua [-h] [-l LANGUAGE] [-v] [-d SECONDS] pid",
  description = "Print the threads process PID starts (and, for Java, stops).",
  {"-l", "--language", "language", "string", "java or none (pthread_create; default: from the program's name)"},
  {"-v", "--verbose", "verbose", "flag", "verbose mode: print the BPF program (for debugging purposes)"},
  {"-d", "--duration", "duration", "number", "stop after this many seconds", metavar = "SECONDS"},
  positional = {{"pid", "string", "process id to attach to"}},
})
local pid = tonumber(opts[1])
if not pid then
  io.stderr:write("uthreads.lua: give the PID of a process (-h for help)\n")
  os.exit(2)
end

local language = opts.language
if not language then
  local exe = io.popen("readlink /proc/" .. pid .. "/exe 2>/dev/null"):read("*l") or ""
  language = exe:find("java", 1, true) and "java" or "none"
end
if language ~= "java" and language ~= "none" then
  io.stderr:write("uthreads.lua: language must be java or none\n")
  os.exit(2)
end

local text = [[
  struct thread_event {
    u64 ts; u64 runtime_id; u64 native_id; u64 start_routine; char type[8]; char name[80];
  };
  BPF_RINGBUF_OUTPUT(events, 16);

#if JAVA
  static __always_inline int java_thread(struct pt_regs *ctx, const char *type) {
    struct thread_event e = {};
    u64 name = 0, len = 0;
    e.ts = bpf_ktime_get_ns();
    bpf_usdt_readarg(1, ctx, &name);
    bpf_usdt_readarg(2, ctx, &len);
    bpf_usdt_readarg(3, ctx, &e.runtime_id);
    bpf_usdt_readarg(4, ctx, &e.native_id);
    bpf_probe_read_user(e.name, len < sizeof(e.name) - 1 ? len : sizeof(e.name) - 1, (void *)name);
    __builtin_memcpy(e.type, type, 6);
    events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
  int trace_thread_start(struct pt_regs *ctx) { return java_thread(ctx, "start"); }
  int trace_thread_stop(struct pt_regs *ctx) { return java_thread(ctx, "stop\0"); }
#endif

  /* pthread_create(thread, attr, start_routine, arg) */
  int trace_pthread(struct pt_regs *ctx) {
    struct thread_event e = {};
    e.ts = bpf_ktime_get_ns();
    e.native_id = (u32)bpf_get_current_pid_tgid();
    e.start_routine = PT_REGS_PARM3(ctx);
    __builtin_memcpy(e.type, "pthread", 8);
    events.ringbuf_output(&e, sizeof(e), 0);
    return 0;
  }
]]

if opts.verbose then
  print(text)
end
local b
if language == "java" then
  local u = BPF.USDT{pid = pid}
  u:enable_probe{probe = "hotspot:thread__start", fn_name = "trace_thread_start"}
  u:enable_probe{probe = "hotspot:thread__stop", fn_name = "trace_thread_stop"}
  b = BPF{text = text, cflags = {"-DJAVA=1"}, usdt_contexts = {u}}
else
  b = BPF{text = text, cflags = {"-DJAVA=0"}}
  -- By expression: glibc has two versions of pthread_create, which libbpf finds ambiguous.
  b:attach_uprobe{name = "c", sym_re = "^pthread_create$", fn_name = "trace_pthread", pid = pid}
end

local events = b["events"]
local first
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  first = first or e.ts
  local type = ffi.string(e.type)
  local id, description
  if type == "pthread" then
    id, description = tostring(tonumber(e.native_id)), b:sym(e.start_routine, pid, true, true) .. string.format(" 0x%x", tonumber(e.start_routine))
  else
    id, description = string.format("R=%d/N=%d", tonumber(e.runtime_id), tonumber(e.native_id)),
      ffi.string(e.name)
  end
  print(string.format("%-8.3f %-16s %-8s %-30s", tonumber(e.ts - first) / 1e9, id, type, description))
end)

io.stdout:setvbuf("line")
print(string.format("Tracing thread events in process %d (language: %s)... Ctrl-C to quit.", pid, language))
print(string.format("%-8s %-16s %-8s %-30s", "TIME", "ID", "TYPE", "DESCRIPTION"))
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
