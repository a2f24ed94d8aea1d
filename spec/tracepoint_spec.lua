-- TRACEPOINT_PROBE: the args struct comes from tracefs, at the format file's offsets.
local BPF = require("bpflua")
local h = require("spec.helpers")

-- Field offsets and sizes as the tracepoint's format file gives them.
local function format_fields(category, event)
  local f = assert(io.open("/sys/kernel/tracing/events/" .. category .. "/" .. event .. "/format"))
  local fields = {}
  for line in f:lines() do
    local decl, offset, size = line:match("field:([^;]+);%s*offset:(%d+);%s*size:(%d+);")
    if decl then
      local name = decl:gsub("%b[]%s*$", ""):match("([%w_]+)%s*$")
      fields[name] = {offset = tonumber(offset), size = tonumber(size)}
    end
  end
  f:close()
  return fields
end

describe("TRACEPOINT_PROBE #kernel", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("lays out args exactly as the format file (syscall fields 8 bytes wide)", function()
    local b = BPF{text = [[
      BPF_ARRAY(layout, u64, 8);
      #define PUT(i, v) do { int k = i; u64 x = v; layout.update(&k, &x); } while (0)
      TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
        return 0;
      }
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        PUT(0, __builtin_offsetof(struct tracepoint__syscalls__sys_enter_openat, dfd));
        PUT(1, __builtin_offsetof(struct tracepoint__syscalls__sys_enter_openat, filename));
        PUT(2, __builtin_offsetof(struct tracepoint__syscalls__sys_enter_openat, flags));
        PUT(3, __builtin_offsetof(struct tracepoint__syscalls__sys_enter_openat, mode));
        PUT(4, sizeof(((struct tracepoint__syscalls__sys_enter_openat *)0)->flags));
        PUT(5, __builtin_offsetof(struct tracepoint__syscalls__sys_enter_getpriority, who));
        return 0;
      }
    ]]}
    h.getpriority(1)
    local openat = format_fields("syscalls", "sys_enter_openat")
    local getprio = format_fields("syscalls", "sys_enter_getpriority")
    local layout = b["layout"]
    assert.are.equal(openat.dfd.offset, layout:get(0))
    assert.are.equal(openat.filename.offset, layout:get(1))
    assert.are.equal(openat.flags.offset, layout:get(2))
    assert.are.equal(openat.mode.offset, layout:get(3))
    assert.are.equal(8, layout:get(4))
    assert.are.equal(getprio.who.offset, layout:get(5))
    b:cleanup()
  end)

  it("reads the real argument values of the caller's own syscalls", function()
    local pid = h.getpid()
    local b = BPF{text = [[
      struct seen { u64 which; u64 who; u32 pid; char comm[TASK_COMM_LEN]; };
      BPF_ARRAY(last, struct seen, 1);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
        struct seen s = {};
        s.which = args->which;
        s.who = args->who;
        s.pid = bpf_get_current_pid_tgid() >> 32;
        bpf_get_current_comm(&s.comm, sizeof(s.comm));
        int k = 0;
        last.update(&k, &s);
        return 0;
      }
    ]], cflags = {"-DPID=" .. pid}}
    h.getpriority(123456, 2)
    local v = b["last"]:get(0)
    local ffi = require("ffi")
    assert.are.equal(2, tonumber(v.which))
    assert.are.equal(123456, tonumber(v.who))
    assert.are.equal(pid, v.pid)
    local comm = io.open("/proc/self/comm"):read("*l")
    assert.are.equal(comm:sub(1, 15), ffi.string(v.comm))
    b:cleanup()
  end)

  it("names a tracepoint that does not exist, at its line and column", function()
    local before = h.kernel_objects()
    local ok, err = pcall(BPF.new, {text = "\nTRACEPOINT_PROBE(syscalls, sys_enter_nonesuch) { return 0; }\n"})
    assert.is_false(ok)
    assert.matches("<text>:2:18: error: tracepoint syscalls:sys_enter_nonesuch does not exist", err, 1, true)
    h.assert_kernel_objects(before)
  end)
end)
