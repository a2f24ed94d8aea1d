-- bcc's probes that need what the development kernel lacks -- kprobes with arguments after
-- ctx, kprobes reading through kernel pointers, KFUNC_PROBE, KRETFUNC_PROBE, LSM_PROBE, and
-- the name prefixes attached at load -- run in Debian's 6.1 kernel under QEMU
-- (scripts/vmtest.sh); tagged #vm so that the native run leaves them out. spec/bcc_rules_spec.lua
-- has the same rules on probes the development kernel has, and the clear errors there.
--
-- Every probe sits on getpriority(2) and counts only this process: getpriority(PRIO_PROCESS, N)
-- with N above any possible pid carries N into the kernel and comes back with -ESRCH.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[
int getppid(void);
int setpriority(int which, unsigned int who, int prio);
int open(const char *path, int flags, ...);
int close(int fd);
]]

local ESRCH = 3
local WHO = 5000000 -- above PID_MAX_LIMIT (4194304): no such process, ever
-- The syscall's wrapper, whose one argument is the caller's registers (the probes below read
-- x86-64's register names: the VM is x86-64).
local wrapper = "__x64_sys_getpriority"

local function require_feature(supported, why)
  if supported then
    return true
  end
  if os.getenv("CI") == "true" or os.getenv("BPFLUA_VMTEST") then
    error(why)
  end
  pending(why)
  return false
end

local function kprobes()
  local ok = io.open("/sys/bus/event_source/devices/kprobe/type")
  if ok then
    ok:close()
  end
  return require_feature(ok ~= nil, "this kernel has no kprobes; scripts/vmtest.sh runs this spec in a VM")
end

local function compile(text)
  return BPF{text = [[
    BPF_ARRAY(out, s64, 8);
    #define PUT(i, v) do { int _k = (i); s64 _v = (s64)(v); out.update(&_k, &_v); } while (0)
    #define MINE() ((bpf_get_current_pid_tgid() >> 32) == PID)
  ]] .. text, cflags = {"-DPID=" .. h.getpid(), "-DWHO=" .. WHO, "-DWRAPPER=" .. wrapper}}
end

local function values(b, n)
  local out, got = b["out"], {}
  for i = 0, n - 1 do
    got[#got + 1] = tonumber(out:get(i))
  end
  return got
end

describe("bcc's probes #kernel #vm", function()
  local pid, ppid
  setup(function()
    assert(h.require_bpf())
    pid, ppid = h.getpid(), ffi.C.getppid()
  end)

  it("kprobe__ arguments after ctx come from registers, and kernel pointers among them are read (test_probe_read1, test_probe_read_kprobe_ctx)", function()
    if not kprobes() then return end
    local b = compile(string.format([[
      // As in bcc, a kprobe__ on a syscall's wrapper takes the syscall's own arguments.
      int kprobe__%s(struct pt_regs *ctx, int which, int who) {
        if (MINE()) PUT(0, who);
        return 0;
      }
      // Elsewhere the arguments are the probed function's: here, the wrapper's one
      // argument, a kernel pointer to the caller's registers.
      int on_wrapper(struct pt_regs *ctx, struct pt_regs *regs) {
        if (!MINE()) return 0;
        PUT(1, PT_REGS_PARM2(regs));
        struct pt_regs *same = (struct pt_regs *)PT_REGS_PARM1(ctx);
        PUT(2, same->si);
        struct task_struct *task = (struct task_struct *)bpf_get_current_task();
        PUT(3, task->real_parent->tgid);
        return 0;
      }
      int kretprobe__%s(struct pt_regs *ctx) {
        if (MINE()) PUT(4, PT_REGS_RC(ctx));
        return 0;
      }
    ]], wrapper, wrapper))
    b:attach_kprobe{event = wrapper, fn_name = "on_wrapper"}
    assert.are.equal(-1, h.getpriority(WHO + 1))
    assert.are.same({WHO + 1, WHO + 1, WHO + 1, ppid, -ESRCH}, values(b, 5))
    b:cleanup()
  end)

  it("syscall__ functions attached with attach_kprobe get the syscall's own arguments", function()
    if not kprobes() then return end
    local b = compile([[
      int syscall__getpriority(struct pt_regs *ctx, int which, int who) {
        if (!MINE()) return 0;
        PUT(0, which);
        PUT(1, who);
        return 0;
      }
    ]])
    b:attach_kprobe{event = wrapper, fn_name = "syscall__getpriority"}
    h.getpriority(WHO + 2, 0)
    assert.are.same({0, WHO + 2}, values(b, 2))
    b:cleanup()
  end)

  it("a kprobe on a kernel function reads its struct argument's fields (test_probe_read_nested_member)", function()
    if not kprobes() then return end
    -- getpriority(PRIO_PROCESS, pid) looks the task up and reads its nice value:
    -- task_nice(p) is inlined, but find_task_by_vpid(nr) and __task_pid_nr_ns(task, ...)
    -- are functions; the latter takes the task getpriority found.
    local b = compile([[
      int on_pid_nr(struct pt_regs *ctx, struct task_struct *task, enum pid_type type) {
        if (!MINE()) return 0;
        PUT(0, task->tgid);
        PUT(1, task->real_parent->tgid);
        return 0;
      }
    ]])
    b:attach_kprobe{event = "__task_pid_nr_ns", fn_name = "on_pid_nr"}
    h.getpid() -- the last call: getppid() would end with the parent's task
    assert.are.same({pid, ppid}, values(b, 2))
    b:cleanup()
  end)

  it("KFUNC_PROBE and KRETFUNC_PROBE see typed arguments and the return value", function()
    local supported, why = BPF.support_kfunc()
    if not require_feature(supported, why) then return end
    local b = compile(string.format([[
      KFUNC_PROBE(%s, const struct pt_regs *regs) {
        if (MINE()) PUT(0, regs->si);
        return 0;
      }
      KRETFUNC_PROBE(%s, const struct pt_regs *regs, long ret) {
        if (MINE()) { PUT(1, ret); PUT(2, regs->si); }
        return 0;
      }
    ]], wrapper, wrapper))
    assert.matches("2 probes attached", tostring(b), 1, true)
    h.getpriority(WHO + 3)
    assert.are.same({WHO + 3, -ESRCH, WHO + 3}, values(b, 3))
    b:cleanup()
  end)

  it("KMOD_RET changes what the function returns", function()
    local supported, why = BPF.support_kfunc()
    if not require_feature(supported, why) then return end
    -- setpriority(2) asks security_task_setnice(), which fmod_ret may override (security_
    -- hooks and error-injectable functions are the kernel's only modifiable ones).
    local b = compile([[
      KMOD_RET(security_task_setnice, struct task_struct *p, int nice, int ret) {
        if (!MINE()) return 0;
        PUT(0, nice);
        return -13; /* -EACCES */
      }
    ]])
    local nice = ffi.C.getpriority(0, 0)
    assert.are.equal(-1, ffi.C.setpriority(0, 0, nice))
    assert.are.equal(13, ffi.errno())
    assert.are.equal(nice, values(b, 1)[1])
    b:cleanup()
    assert.are.equal(0, ffi.C.setpriority(0, 0, nice))
  end)

  it("LSM_PROBE runs on its hook (lsm/file_open) and can refuse", function()
    local supported, why = BPF.support_lsm()
    if not require_feature(supported, why) then return end
    local b = compile([[
      LSM_PROBE(file_open, struct file *file) {
        if (!MINE()) return 0;
        if (file->f_flags & 00200000 /* O_DIRECTORY */) {
          int k = 0;
          s64 *n = out.lookup(&k);
          if (n) *n += 1;
          return -1; /* -EPERM */
        }
        return 0;
      }
    ]])
    local fd = ffi.C.open("/", 0x10000) -- O_DIRECTORY
    assert.are.equal(-1, fd)
    assert.are.equal(1, values(b, 1)[1])
    b:cleanup()
    fd = ffi.C.open("/", 0x10000)
    assert.is_true(fd >= 0)
    ffi.C.close(fd)
  end)

  it("kfunc__ and lsm__ names attach at load like the macros", function()
    local supported, why = BPF.support_kfunc()
    if not require_feature(supported, why) then return end
    local b = compile(string.format([[
      int BPF_PROG(kfunc__vmlinux__%s, const struct pt_regs *regs) {
        if (MINE()) PUT(0, regs->si);
        return 0;
      }
    ]], wrapper))
    h.getpriority(WHO + 4)
    assert.are.same({WHO + 4}, values(b, 1))
    b:cleanup()
  end)
end)
