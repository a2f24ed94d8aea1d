-- bcc's frontend rules, each with a case written after bcc's tests/python/test_clang.py, on
-- probes that run on this kernel: raw tracepoints, tracepoints and uprobes. Each program is
-- loaded and run, and the values it read are checked against what this process knows of
-- itself (pid, parent, comm, uname). The kprobe forms are in spec/kernel/bcc_rules_spec.lua.
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

ffi.cdef[[
int getppid(void);
int socket(int domain, int type, int protocol);
int setsockopt(int fd, int level, int name, const void *value, unsigned int len);
int close(int fd);
int setenv(const char *name, const char *value, int overwrite);
int unsetenv(const char *name);
int access(const char *path, int mode);
long syscall(long number, ...);
]]

local NR_getpriority = ({x64 = 140, arm64 = 141})[ffi.arch]

local function read_first_line(path)
  local f = assert(io.open(path))
  local line = f:read("*l")
  f:close()
  return line
end

-- A raw tracepoint on sys_enter that runs body for this process's getpriority calls, with
-- task = the current task (a kernel pointer) and PUT(i, v) storing v in out[i].
local function on_getpriority(decls, body)
  return decls .. [[

BPF_ARRAY(out, u64, 16);
#define PUT(i, v) do { int _k = (i); u64 _v = (u64)(v); out.update(&_k, &_v); } while (0)
RAW_TRACEPOINT_PROBE(sys_enter) {
  if ((bpf_get_current_pid_tgid() >> 32) != PID || ctx->args[1] != NR_GETPRIORITY)
    return 0;
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
]] .. body .. "\n  return 0;\n}\n"
end

local function run(text, who)
  local b = BPF{text = text, cflags = {"-DPID=" .. h.getpid(), "-DNR_GETPRIORITY=" .. NR_getpriority}}
  h.getpriority(who or 0)
  return b, b["out"]
end

local function compile_error(text)
  local ok, err = pcall(BPF.new, {text = text})
  assert.is_false(ok, "expected the compile to fail")
  return err
end

describe("bcc's rules", function()
  local pid, ppid, comm
  setup(function()
    assert(h.require_bpf())
    pid, ppid = h.getpid(), ffi.C.getppid()
    comm = read_first_line("/proc/self/comm")
  end)

  describe("probe arguments after ctx", function()
    it("are read from registers (test_probe_read2, on a uprobe)", function()
      local who = 40000 + math.random(1000)
      local b = BPF{text = [[
        BPF_ARRAY(out, u64, 4);
        int on_getpriority(struct pt_regs *ctx, int which, unsigned int who) {
          if (who != WHO) return 0;
          int k = 0; u64 v = which; out.update(&k, &v);
          k = 1; v = who; out.update(&k, &v);
          return 0;
        }
      ]], cflags = {"-DWHO=" .. who}}
      b:attach_uprobe{name = "c", sym = "getpriority", fn_name = "on_getpriority", pid = pid}
      h.getpriority(who, 1)
      assert.are.same({1, who}, {b["out"]:get(0), b["out"]:get(1)})
      b:cleanup()
    end)

    it("of a uprobe point into the process, and read there as in bcc (generic bpf_probe_read)", function()
      local path = os.tmpname()
      local b = BPF{text = [[
        struct name_start { char c[4]; };
        BPF_ARRAY(out, u64, 4);
        int on_access(struct pt_regs *ctx, const char *path, int mode) {
          if (mode != 0) return 0;
          int k = 0; u64 v = path[0]; out.update(&k, &v);
          k = 1; v = *(path + 1); out.update(&k, &v);
          const struct name_start *start = (const struct name_start *)path;
          k = 2; v = start->c[2]; out.update(&k, &v);
          return 0;
        }
      ]]}
      b:attach_uprobe{name = "c", sym = "access", fn_name = "on_access", pid = pid}
      ffi.C.access(path, 0)
      os.remove(path)
      assert.are.same({path:byte(1), path:byte(2), path:byte(3)},
        {b["out"]:get(0), b["out"]:get(1), b["out"]:get(2)})
      b:cleanup()
    end)

    it("reach the sixth argument", function()
      local b = BPF{text = [[
        BPF_ARRAY(out, long, 8);
        int on_syscall(struct pt_regs *ctx, long nr, long a1, long a2, long a3, long a4,
                       long a5) {
          if (a4 != 4444) return 0;
          long v[6] = {nr, a1, a2, a3, a4, a5};
          for (int i = 0; i < 6; i++) { int k = i; out.update(&k, &v[i]); }
          return 0;
        }
      ]]}
      b:attach_uprobe{name = "c", sym = "syscall", fn_name = "on_syscall", pid = pid}
      local long = ffi.typeof("long")
      ffi.C.syscall(long(NR_getpriority), long(0), long(0), long(3333), long(4444), long(5555))
      local out = b["out"]
      assert.are.same({NR_getpriority, 0, 0, 3333, 4444, 5555},
        {tonumber(out:get(0)), tonumber(out:get(1)), tonumber(out:get(2)), tonumber(out:get(3)),
         tonumber(out:get(4)), tonumber(out:get(5))})
      b:cleanup()
    end)

    it("keep the line and column of what follows", function()
      local err = compile_error("int f(struct pt_regs *ctx,\n      int a, int b) { return a + b + nope; }\n")
      assert.matches("<text>:2:38: error: use of undeclared identifier 'nope'", err, 1, true)
    end)

    it("are at most six (test_too_many_args)", function()
      local err = compile_error("int f(struct pt_regs *ctx, int a, int b, int c, int d, int e, int g,\n      int seventh) { return 0; }\n")
      assert.matches("<text>:2:7: error: too many arguments for probe 'f'", err, 1, true)
      assert.matches("at most 6", err, 1, true)
    end)

    it("are not taken by a return probe", function()
      local err = compile_error("int kretprobe__vfs_read(struct pt_regs *ctx, int fd) { return 0; }\n")
      assert.matches("<text>:1:46: error: 'kretprobe__vfs_read' is a return probe", err, 1, true)
      assert.matches("PT_REGS_RC(ctx)", err, 1, true)
    end)

    it("are left alone for tracepoints and raw tracepoints", function()
      local who = 41000 + math.random(1000)
      local b = BPF{text = [[
        BPF_ARRAY(out, u64, 1);
        TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
          if (args->who != WHO) return 0;
          int k = 0; u64 v = args->who; out.update(&k, &v);
          return 0;
        }
      ]], cflags = {"-DWHO=" .. who}}
      h.getpriority(who)
      assert.are.equal(who, b["out"]:get(0))
      b:cleanup()
    end)
  end)

  describe("reads through kernel pointers", function()
    it("follow a member chain from bpf_get_current_task() (test_ext_ptr_from_helper, nested members)", function()
      local b, out = run(on_getpriority("", [[
        PUT(0, task->tgid);
        PUT(1, task->real_parent->tgid);
        PUT(2, task->group_leader->pid);
        PUT(3, task->real_parent->real_parent->tgid != 0);
      ]]))
      assert.are.same({pid, ppid, pid, 1}, {out:get(0), out:get(1), out:get(2), out:get(3)})
      b:cleanup()
    end)

    it("follow assignments, and leave map pointers alone (test_probe_simple_assign)", function()
      local b, out = run(on_getpriority("BPF_HASH(sizes, u32, u64);", [[
        struct task_struct *parent;
        parent = task->real_parent;
        u32 key = 0;
        u64 zero = 0, *size = sizes.lookup_or_try_init(&key, &zero);
        if (size)
          *size += parent->tgid;
        size = sizes.lookup(&key);
        if (size)
          PUT(0, *size);
      ]]))
      assert.are.equal(ppid, out:get(0))
      b:cleanup()
    end)

    it("follow ternaries and parenthesized casts (test_paren_probe_read)", function()
      local b, out = run(on_getpriority("", [[
        struct task_struct *t = task->tgid == PID ? task->real_parent : task;
        PUT(0, t->tgid);
        PUT(1, (task->tgid != PID ? task : task->real_parent)->tgid);
        PUT(2, ((struct task_struct *)(void *)task)->tgid);
      ]]))
      assert.are.same({ppid, ppid, pid}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("follow pointers to local pointers (test_probe_read_nested_deref, 2, 3)", function()
      local b, out = run(on_getpriority("", [[
        struct task_struct *ptr1;
        struct task_struct **ptr2 = &ptr1;
        struct task_struct ***ptr3 = &ptr2;
        *ptr2 = task;
        *ptr3 = ptr2;
        PUT(0, ((struct task_struct *)(*ptr2))->tgid);
        PUT(1, ((struct task_struct *)(**ptr3))->real_parent->tgid);
        struct task_struct **p4, **p5 = &task;
        p4 = &task;
        PUT(2, (*p4)->tgid + (*p5)->tgid);
      ]]))
      assert.are.same({pid, ppid, 2 * pid}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("follow struct fields that hold kernel pointers (test_probe_member_expr, _deref, struct_assign)", function()
      local b, out = run(on_getpriority("struct leaf { struct task_struct *ptr; int flags; };", [[
        struct leaf l = {};
        struct leaf *lp = &l;
        lp->ptr = task;
        PUT(0, lp->ptr->tgid);
        PUT(1, l.ptr->real_parent->tgid);
        struct leaf copy = {};
        copy.ptr = task->real_parent;
        PUT(2, copy.ptr->tgid);
      ]]))
      assert.are.same({pid, ppid, ppid}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("copy kernel structs and follow their pointers", function()
      local b, out = run(on_getpriority("", [[
        struct nsproxy ns = *task->nsproxy;
        PUT(0, ns.uts_ns->name.sysname[0]);
        struct task_struct parent = {};
        PUT(1, sizeof(parent) > 0);
      ]]))
      assert.are.same({string.byte("L"), 1}, {out:get(0), out:get(1)})
      b:cleanup()
    end)

    it("read array elements every way (test_probe_read_array_accesses1..6, test_char_array_probe)", function()
      local b, out = run(on_getpriority("", [[
        PUT(0, task->comm[1]);
        PUT(1, task->comm  [ 2]);
        PUT(2, (task->comm)[3]);
        char *name = task->comm;
        PUT(3, name[0]);
        PUT(4, *(&task->comm[4]));
        char (*names)[16] = &task->comm;
        PUT(5, (*names)[5]);
        PUT(6, sizeof(task->comm));
      ]]))
      assert.are.same({comm:byte(2), comm:byte(3), comm:byte(4), comm:byte(1), comm:byte(5),
                       comm:byte(6) or 0, 16},
        {out:get(0), out:get(1), out:get(2), out:get(3), out:get(4), out:get(5), out:get(6)})
      b:cleanup()
    end)

    it("follow addresses moved as integers and fields named through macros (bindsnoop, tcpaccept)", function()
      local b, out = run(on_getpriority([[
        #define comm_first comm[0]
        #define parent_of_task real_parent
      ]], [[
        PUT(0, *(int *)((u64)&task->tgid - 8 + 8));
        PUT(1, *(int *)((u64)&task->real_parent->tgid + 0));
        PUT(2, *(&task->tgid - 1 + 1));
        PUT(3, task->comm_first);
        PUT(4, task->parent_of_task->tgid);
      ]]))
      assert.are.same({pid, ppid, pid, comm:byte(1), ppid},
        {out:get(0), out:get(1), out:get(2), out:get(3), out:get(4)})
      b:cleanup()
    end)

    it("read bit fields with a CO-RE bit field read (sk_no_check_tx after SO_NO_CHECK)", function()
      -- Two UDP sockets of this process; SO_NO_CHECK sets the first one's sk_no_check_tx:1.
      local SOL_SOCKET, SO_NO_CHECK = 1, 11
      local plain, marked = ffi.C.socket(2, 2, 0), ffi.C.socket(2, 2, 0)
      assert(plain >= 0 and marked >= 0)
      assert(ffi.C.setsockopt(marked, SOL_SOCKET, SO_NO_CHECK, ffi.new("int[1]", 1), 4) == 0)
      local text = on_getpriority([[
        static struct sock *sock_of(struct task_struct *task, int fd) {
          struct file *f = task->files->fdt->fd[fd];
          struct socket *socket = (struct socket *)f->private_data;
          return socket->sk;
        }
      ]], [[
        struct sock *marked = sock_of(task, MARKED), *plain = sock_of(task, PLAIN);
        PUT(0, marked->sk_no_check_tx);
        PUT(1, marked->sk_no_check_rx);
        PUT(2, plain->sk_no_check_tx);
        PUT(3, sock_of(task, MARKED)->sk_no_check_tx + 10);
        struct socket *s = (struct socket *)task->files->fdt->fd[MARKED]->private_data;
        PUT(4, (*s->sk).sk_no_check_tx ? 7 : 8);
      ]]):gsub("MARKED", tostring(marked)):gsub("PLAIN", tostring(plain))
      local b, out = run(text)
      ffi.C.close(plain)
      ffi.C.close(marked)
      assert.are.same({1, 0, 0, 11, 7}, {out:get(0), out:get(1), out:get(2), out:get(3), out:get(4)})
      b:cleanup()
    end)

    it("pass through static helpers' arguments and returns (test_probe_read_return, nested_deref_func1/2)", function()
      local b, out = run(on_getpriority([[
        static struct task_struct *parent_of(struct task_struct *t) { return t->real_parent; }
        static struct task_struct **same(struct task_struct **t) { return t; }
        static int tgid_of(struct task_struct ***tp) { return ((struct task_struct *)(**tp))->tgid; }
      ]], [[
        PUT(0, parent_of(task)->tgid);
        struct task_struct **p1, **p2 = same(&task);
        p1 = same(&task);
        PUT(1, (*p1)->tgid + (*p2)->tgid);
        struct task_struct **pp = &task;
        PUT(2, tgid_of(&pp));
      ]]))
      assert.are.same({ppid, 2 * pid, pid}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("do not read what is only addressed (test_no_probe_read_addrof, whitelist)", function()
      local b, out = run(on_getpriority([[
        static int read_int(int *addr) {
          int v = 0;
          bpf_probe_read_kernel(&v, sizeof(v), addr);
          return v;
        }
      ]], [[
        PUT(0, read_int(&task->tgid));
        int tgid = 0;
        bpf_probe_read_kernel(&tgid, sizeof(tgid), &task->real_parent->tgid);
        PUT(1, tgid);
        __typeof__(task->pid) typed = 7;
        PUT(2, typed);
      ]]))
      assert.are.same({pid, ppid, 7}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("take kernel pointers out of the context (test_probe_read_ctx_array, raw tracepoint args)", function()
      local who = 42000 + math.random(1000)
      local regs_field = ffi.arch == "x64" and "si" or "regs[1]"
      local b, out = run(on_getpriority("", [[
        struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
        PUT(0, regs->]] .. regs_field .. [[);
        PUT(1, PT_REGS_PARM2(regs));
        PUT(2, !task->real_parent ? 0 : !(task->flags & 0x00200000 /* PF_KTHREAD */));
      ]]), who)
      assert.are.same({who, who, 1}, {out:get(0), out:get(1), out:get(2)})
      b:cleanup()
    end)

    it("keep kernel pointers that maps hold (test_ext_ptr_maps1, 2, reverse, indirect)", function()
      local b = BPF{text = [[
        BPF_HASH(current, u32, struct task_struct *);
        BPF_ARRAY(out, u64, 2);
        RAW_TRACEPOINT_PROBE(sys_exit) {
          u32 pid = bpf_get_current_pid_tgid() >> 32;
          if (pid != PID) return 0;
          struct task_struct **tpp;
          tpp = current.lookup(&pid);
          if (tpp) {
            struct task_struct *t = *tpp;
            int k = 0; u64 v = t->real_parent->tgid; out.update(&k, &v);
          }
          struct task_struct **again = current.lookup(&pid);
          if (again) { int k = 1; u64 v = (*again)->tgid; out.update(&k, &v); }
          return 0;
        }
        RAW_TRACEPOINT_PROBE(sys_enter) {
          u32 pid = bpf_get_current_pid_tgid() >> 32;
          if (pid != PID) return 0;
          struct task_struct *task = (struct task_struct *)bpf_get_current_task();
          struct task_struct **tp = &task;
          current.update(&pid, tp);
          return 0;
        }
      ]], cflags = {"-DPID=" .. pid}}
      h.getpriority(0)
      assert.are.same({ppid, pid}, {b["out"]:get(0), b["out"]:get(1)})
      b:cleanup()
    end)

    it("leave BTF-typed pointers (tp_btf, fentry, LSM) to the verifier, which lets them be read directly", function()
      local who = 45000 + math.random(1000)
      local b = BPF{text = [[
        BPF_ARRAY(out, u64, 2);
        SEC("tp_btf/sys_enter") int BPF_PROG(on_enter, struct pt_regs *regs, long id) {
          if ((bpf_get_current_pid_tgid() >> 32) != PID || id != NR_GETPRIORITY) return 0;
          int k = 0; u64 v = PT_REGS_PARM2(regs); out.update(&k, &v);
          struct task_struct *task = bpf_get_current_task_btf();
          k = 1; v = task->real_parent->tgid; out.update(&k, &v);
          return 0;
        }
      ]], cflags = {"-DPID=" .. pid, "-DNR_GETPRIORITY=" .. NR_getpriority}}
      h.getpriority(who)
      assert.are.same({who, ppid}, {b["out"]:get(0), b["out"]:get(1)})
      b:cleanup()
    end)

    it("leave a syscall tracepoint's user pointers to explicit reads", function()
      local b = BPF{text = [[
        BPF_ARRAY(out, u64, 1);
        TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
          if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
          char first = 0;
          bpf_probe_read_user(&first, 1, args->filename);
          int k = 0; u64 v = first; out.update(&k, &v);
          return 0;
        }
      ]], cflags = {"-DPID=" .. pid}}
      io.open("/proc/self/comm"):close()
      assert.are.equal(string.byte("/"), b["out"]:get(0))
      b:cleanup()
      -- Read directly, the user pointer stays what the verifier rejects, with its reason.
      local ok, err = pcall(BPF.new, {text = [[
        TRACEPOINT_PROBE(syscalls, sys_enter_openat) { return args->filename[0]; }
      ]]})
      assert.is_false(ok)
      assert.matches("verifier", err, 1, true)
    end)
  end)

  describe("bcc's USDT argument readers", function()
    -- bcc's USDT puts a reader per probe function and argument ahead of the text
    -- (_bpf_readarg_FN_N); its frontend turns bpf_usdt_readarg(N, ctx, &v) in FN into a call.
    it("read bpf_usdt_readarg and bpf_usdt_readarg_p through _bpf_readarg_FN_N", function()
      local who = 42000 + math.random(1000)
      local path = os.tmpname()
      local b = BPF{text = [[
        static __always_inline int _bpf_readarg_on_gp_2(struct pt_regs *ctx, void *dest, size_t len) {
          if (len != sizeof(u64)) return -1;
          *(u64 *)dest = PT_REGS_PARM2(ctx);
          return 0;
        }
        static __always_inline int _bpf_readarg_on_access_1(struct pt_regs *ctx, void *dest, size_t len) {
          if (len != sizeof(u64)) return -1;
          *(u64 *)dest = PT_REGS_PARM1(ctx);
          return 0;
        }
        BPF_ARRAY(out, u64, 2);
        BPF_ARRAY(names, char[64], 1);
        int on_gp(struct pt_regs *ctx) {
          u64 who = 0;
          if (bpf_usdt_readarg(2, ctx, &who) || who != WHO) return 0;
          int k = 0; out.update(&k, &who);
          return 0;
        }
        int on_access(struct pt_regs *ctx) {
          char name[64] = {};
          if (bpf_usdt_readarg_p(1, ctx, name, sizeof(name)) == 0 && name[0] == '/') {
            int k = 0; names.update(&k, &name);
          }
          return 0;
        }
      ]], cflags = {"-DWHO=" .. who}}
      b:attach_uprobe{name = "c", sym = "getpriority", fn_name = "on_gp", pid = pid}
      b:attach_uprobe{name = "c", sym = "access", fn_name = "on_access", pid = pid}
      h.getpriority(who)
      ffi.C.access(path, 0)
      os.remove(path)
      assert.are.equal(who, b["out"]:get(0))
      assert.are.equal(path, ffi.string(b["names"]:get(0)))
      b:cleanup()
    end)

    it("are an error naming usdt_contexts where the reader is missing", function()
      local err = compile_error("int f(struct pt_regs *ctx) {\n  long v = 0;\n  return bpf_usdt_readarg(3, ctx, &v);\n}\n")
      assert.matches("<text>:3:10: error: bpf_usdt_readarg needs the program built with " ..
        "BPF{usdt_contexts = {u}} (or bcc's generated reader _bpf_readarg_f_N)", err, 1, true)
    end)
  end)

  describe("the kernel's CONFIG_ macros", function()
    local function config_values(names)
      local decls, body = "", ""
      for i, name in ipairs(names) do
        decls = decls .. "#ifdef " .. name .. "\n#define V" .. i .. " (" .. name .. ")\n#else\n#define V" ..
          i .. " (-1)\n#endif\n"
        body = body .. "PUT(" .. (i - 1) .. ", V" .. i .. ");\n"
      end
      local b, out = run(on_getpriority(decls, body))
      local got = {}
      for i = 1, #names do
        got[i] = tonumber(ffi.cast("int64_t", out:get(i - 1)))
      end
      b:cleanup()
      return got
    end

    after_each(function()
      ffi.C.unsetenv("BPFLUA_KERNEL_CONFIG")
    end)

    it("are the kernel configuration's, as autoconf.h has them (=y, =m, values, unset)", function()
      local path = os.tmpname()
      local f = assert(io.open(path, "w"))
      f:write("CONFIG_BPFLUA_YES=y\nCONFIG_BPFLUA_MOD=m\nCONFIG_BPFLUA_HZ=250\n" ..
        "# CONFIG_BPFLUA_OFF is not set\nCONFIG_BPFLUA_OFFSET=0x10\n")
      f:close()
      ffi.C.setenv("BPFLUA_KERNEL_CONFIG", path, 1)
      local got = config_values({"CONFIG_BPFLUA_YES", "CONFIG_BPFLUA_MOD", "CONFIG_BPFLUA_MOD_MODULE",
        "CONFIG_BPFLUA_HZ", "CONFIG_BPFLUA_OFF", "CONFIG_BPFLUA_OFFSET"})
      os.remove(path)
      assert.are.same({1, -1, 1, 250, -1, 16}, got)
    end)

    it("follow the running kernel's configuration", function()
      local p = io.popen("(zcat /proc/config.gz || cat /boot/config-$(uname -r)) 2>/dev/null")
      local config = p:read("*a")
      p:close()
      if config == "" then
        pending("this kernel publishes no configuration")
        return
      end
      local hz = tonumber(config:match("\nCONFIG_HZ=(%d+)"))
      local net_ns = config:match("\nCONFIG_NET_NS=y") and 1 or -1
      assert.are.same({hz, net_ns}, config_values({"CONFIG_HZ", "CONFIG_NET_NS"}))
    end)

    it("come from the kernel's BTF and architecture where it publishes no configuration", function()
      ffi.C.setenv("BPFLUA_KERNEL_CONFIG", "", 1)
      local arch = ({x64 = "CONFIG_X86_64", arm64 = "CONFIG_ARM64"})[ffi.arch]
      -- (tcptracer, solisten and compactsnoop test these; this kernel has both)
      assert.are.same({1, 1, 1, 1, -1}, config_values({arch, "CONFIG_64BIT", "CONFIG_NET_NS", "CONFIG_SMP",
        "CONFIG_HZ"}))
    end)
  end)

  describe("programs bcc rejects, or that would go wrong silently", function()
    it("an undeclared function is an error at its call (not a failed load)", function()
      local err = compile_error("int f(void *ctx) {\n  u16 port = 0;\n  return swap_port(port);\n}\n")
      assert.matches("<text>:3:10: error: call to undeclared function 'swap_port'", err, 1, true)
    end)

    it("calling a non-static helper is an error at the call (test_invalid_noninline_call)", function()
      local err = compile_error("int bar(void) {\n  return 0;\n}\nint foo(struct pt_regs *ctx) {\n  return bar();\n}\n")
      assert.matches("<text>:5:10: error: cannot call non-static helper function 'bar'", err, 1, true)
    end)

    it("} __packed; packs the struct (test_packed_structure)", function()
      local b, out = run(on_getpriority([[
        struct test { u16 a; u32 b; } __packed;
        BPF_TABLE("hash", u32, struct test, testing, 2);
      ]], [[
        u32 key = 0;
        struct test info = {.a = 10, .b = 20};
        testing.update(&key, &info);
        PUT(0, sizeof(struct test));
      ]]))
      assert.are.equal(6, out:get(0))
      local v = b["testing"]:get(0)
      assert.are.same({10, 20}, {v.a, v.b})
      b:cleanup()
    end)

    it("lookup_or_init returns from the probe when it cannot insert, so its leaf needs no check", function()
      local b, out = run(on_getpriority("BPF_HASH(counts, u32, u64, 4);", [[
        u32 key = 7;
        u64 zero = 0;
        u64 *n = counts.lookup_or_init(&key, &zero);
        (*n)++;
        PUT(0, *n);
      ]]))
      h.getpriority(0)
      assert.are.equal(2, out:get(0))
      b:cleanup()
    end)

    it("a fixed-size copy out of a short string literal stays inside .rodata (ext4dist)", function()
      local b = BPF{text = [[
        typedef struct dist_key { char op[8]; u64 slot; } dist_key_t;
        BPF_HISTOGRAM(dist, dist_key_t);
        static int trace_return(struct pt_regs *ctx, const char *op) {
          dist_key_t key = {.slot = 1};
          __builtin_memcpy(&key.op, op, sizeof(key.op));
          dist.atomic_increment(key);
          return 0;
        }
        int trace_read_return(struct pt_regs *ctx) { char *op = "read"; return trace_return(ctx, op); }
        int trace_fsync_return(struct pt_regs *ctx) { char *op = "fsync"; return trace_return(ctx, op); }
      ]]}
      b:attach_uretprobe{name = "c", sym = "getpriority", fn_name = "trace_read_return", pid = pid}
      b:attach_uretprobe{name = "c", sym = "getpriority", fn_name = "trace_fsync_return", pid = pid}
      h.getpriority(0)
      local ops = {}
      for k, v in b["dist"]:items() do
        ops[ffi.string(k.op)] = tonumber(v)
      end
      assert.are.same({read = 1, fsync = 1}, ops)
      b:cleanup()
    end)
  end)

  describe("fentry, fexit, LSM and the names bcc attaches at load", function()
    it("attach raw_tracepoint__EVENT and tracepoint__CATEGORY__EVENT when the program loads", function()
      local who = 44000 + math.random(1000)
      local b = BPF{text = [[
        BPF_ARRAY(out, u64, 2);
        int raw_tracepoint__sys_enter(struct bpf_raw_tracepoint_args *ctx) {
          if ((bpf_get_current_pid_tgid() >> 32) != PID || ctx->args[1] != NR_GETPRIORITY) return 0;
          int k = 0; u64 *v = out.lookup(&k); if (v) *v += 1;
          return 0;
        }
        int tracepoint__syscalls__sys_enter_getpriority(struct tracepoint__syscalls__sys_enter_getpriority *args) {
          if (args->who != WHO) return 0;
          int k = 1; u64 *v = out.lookup(&k); if (v) *v += 1;
          return 0;
        }
      ]], cflags = {"-DPID=" .. pid, "-DWHO=" .. who, "-DNR_GETPRIORITY=" .. NR_getpriority}}
      assert.matches("2 probes attached", tostring(b), 1, true)
      h.getpriority(who)
      assert.are.same({1, 1}, {b["out"]:get(0), b["out"]:get(1)})
      b:cleanup()
    end)

    it("BPF.support_raw_tracepoint() is true here, by loading and attaching one", function()
      assert.is_true(BPF.support_raw_tracepoint())
    end)

    it("KFUNC_PROBE loads where BPF.support_kfunc() says so, and says why not elsewhere", function()
      local supported, why = BPF.support_kfunc()
      local ok, b = pcall(BPF.new, {text = [[
        BPF_ARRAY(out, u64, 1);
        KFUNC_PROBE(do_nanosleep, struct hrtimer_sleeper *t, enum hrtimer_mode mode) { return 0; }
      ]]})
      assert.are.equal(supported, ok, tostring(b))
      if ok then
        b:cleanup()
      else
        assert.is_string(why)
        assert.matches("cannot load program 'kfunc__vmlinux__do_nanosleep': this kernel refuses fentry (KFUNC_PROBE) programs", b, 1, true)
      end
    end)

    it("LSM_PROBE loads where BPF.support_lsm() says so, and says why not elsewhere", function()
      local supported, why = BPF.support_lsm()
      local ok, b = pcall(BPF.new, {text = [[
        LSM_PROBE(file_open, struct file *file) { return 0; }
      ]]})
      assert.are.equal(supported, ok, tostring(b))
      if ok then
        b:cleanup()
      else
        assert.is_string(why)
        assert.matches("cannot load program 'lsm__file_open'", b, 1, true)
        assert.matches("LSM", b, 1, true)
      end
    end)
  end)
end)
