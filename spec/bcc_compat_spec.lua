-- bcc programs' C compiles on top of vmlinux.h: their includes, types, macros and helpers.
local BPF = require("bpflua")
local ffi = require("ffi")
local lib = require("bpflua.cdefs")
local h = require("spec.helpers")
local compat = require("spec.bcc_compat_runner")

ffi.cdef[[
struct btf *btf__load_vmlinux_btf(void);
int btf__find_by_name_kind(const struct btf *btf, const char *name, uint32_t kind);
void btf__free(struct btf *btf);
struct bpflua_spec_btf_enum { uint32_t name_off; int32_t val; };
]]

-- The kernel headers bcc programs include, as bpf/kernel_headers.txt lists them.
local function kernel_headers()
  local headers = {}
  for line in io.lines("bpf/kernel_headers.txt") do
    local header = line:match("^([^#%s]+)")
    if header then
      headers[#headers + 1] = header
    end
  end
  return headers
end

-- Compiles without loading; returns nil or the error.
local function compile_error(src, name)
  local opts = ffi.new("struct bpflua_compile_opts", {source = src, source_len = #src,
    source_name = name, cflags = nil, ncflags = 0})
  local err = ffi.new("char *[1]")
  local compiled = lib.bpflua_compile(opts, err)
  if compiled == nil then
    local message = ffi.string(err[0])
    lib.bpflua_free(err[0])
    return message
  end
  lib.bpflua_compiled_free(compiled)
end

-- An enumerator's value in the running kernel's BTF.
local function kernel_enum_value(enum_name, enumerator)
  local btf = lib.btf__load_vmlinux_btf()
  assert(btf ~= nil, "no kernel BTF")
  local id = lib.btf__find_by_name_kind(btf, enum_name, 6)
  assert(id > 0, "no enum " .. enum_name .. " in the kernel's BTF")
  local t = lib.btf__type_by_id(btf, id)
  local members = ffi.cast("const struct bpflua_spec_btf_enum *", t + 1)
  local value
  for i = 0, bit.band(t.info, 0xffff) - 1 do
    if ffi.string(lib.btf__name_by_offset(btf, members[i].name_off)) == enumerator then
      value = members[i].val
    end
  end
  lib.btf__free(btf)
  return value
end

describe("bcc-compatible C", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("compiles bcc's usual kernel includes and types", function()
    local b = BPF{text = [[
      #include <uapi/linux/ptrace.h>
      #include <linux/sched.h>
      #include <linux/fs.h>
      #include <net/sock.h>
      #include <linux/blkdev.h>
      #include <bcc/proto.h>
      struct my_sample { u8 a; u16 b; u32 c; u64 d; s8 e; s16 f; s32 g; s64 h; char comm[TASK_COMM_LEN]; };
      BPF_HASH(start, u32, struct my_sample);
      int uses_kernel_types(struct pt_regs *ctx, struct sock *sk, struct task_struct *t,
                            struct file *f) { return 0; }
    ]]}
    assert.are.same({"start"}, b:table_names())
    b:cleanup()
  end)

  it("has bcc's helpers and the kernel macros vmlinux.h lacks", function()
    local who = 50000 + math.random(1000)
    local b = BPF{text = [[
      BPF_ARRAY(out, u64, 16);
      #define PUT(i, v) do { int k = i; u64 x = v; out.update(&k, &x); } while (0)
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        PUT(0, bpf_log2l(0));
        PUT(1, bpf_log2l(1));
        PUT(2, bpf_log2l(2));
        PUT(3, bpf_log2l(3));
        PUT(4, bpf_log2l(1024));
        PUT(5, bpf_log2l(1ULL << 40));
        PUT(6, bpf_log2(1000));
        PUT(7, PAGE_SIZE);
        PUT(8, TASK_COMM_LEN);
        int k = 9;
        u64 *v = out.lookup(&k);
        if (v) lock_xadd(v, 5);
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    local out = b["out"]
    assert.are.same({1, 1, 2, 2, 11, 41, 9, 4096, 16, 5},
      {out:get(0), out:get(1), out:get(2), out:get(3), out:get(4), out:get(5), out:get(6),
       out:get(7), out:get(8), out:get(9)})
    b:cleanup()
  end)

  it("compiles every kernel header of bpf/kernel_headers.txt alone", function()
    local headers = kernel_headers()
    assert.is_true(#headers >= 100)
    local failed = {}
    for _, header in ipairs(headers) do
      local err = compile_error("#include <" .. header .. ">\nint f(void *ctx) { return 0; }\n", header)
      if err then
        failed[#failed + 1] = header .. ": " .. err
      end
    end
    assert.are.same({}, failed)
  end)

  it("compiles them all in one program, with the aliases of net/sock.h and net/inet_sock.h", function()
    local includes = {}
    for _, header in ipairs(kernel_headers()) do
      includes[#includes + 1] = "#include <" .. header .. ">"
    end
    local b = BPF{text = table.concat(includes, "\n") .. [[

      _Static_assert(__builtin_offsetof(struct sock, sk_family) ==
                     __builtin_offsetof(struct sock, __sk_common.skc_family), "sk_family");
      _Static_assert(__builtin_offsetof(struct inet_sock, inet_dport) ==
                     __builtin_offsetof(struct inet_sock, sk.__sk_common.skc_dport), "inet_dport");
      _Static_assert(sizeof(struct ip_t) == 20 && sizeof(struct tcp_t) == 20 &&
                     sizeof(struct ethernet_t) == 14 && sizeof(struct udp_t) == 8, "proto.h");
      int uses(struct pt_regs *ctx, struct sock *sk, char __user *buf) {
        u8 *cursor = 0;
        struct ethernet_t *eth = cursor_advance(cursor, sizeof(*eth));
        return sk->sk_family + ntohs(inet_sk(sk)->inet_dport) + (eth != 0);
      }
    ]]}
    b:cleanup()
  end)

  it("leaves the field aliases to the headers that define them, as the kernel does", function()
    local b = BPF{text = [[
      #include <linux/sched.h>
      struct my_event { u32 sk_family; u64 sk_state; };
      BPF_ARRAY(out, struct my_event, 1);
    ]]}
    b:cleanup()
    local err = compile_error("#include <linux/sched.h>\n" ..
      "int f(struct sock *sk) { return sk->sk_family; }\n", "<no net/sock.h>")
    assert.truthy(err and err:find("no member named 'sk_family'", 1, true), err)
  end)

  it("has the kernel's values for the macros bcc programs use", function()
    local who = 51000 + math.random(1000)
    local names = {
      "REQ_OP_MASK", "REQ_OP_WRITE", "REQ_SYNC", "REQ_FUA", "REQ_PREFLUSH",
      "EINVAL", "ENOTSUPP", "EAGAIN", "FMODE_WRITE", "FMODE_CREATED",
      "S_ISREG(0100644)", "S_ISDIR(0100644)", "S_ISDIR(040755)", "ntohs(0x1234)", "htonl(1)",
      "DISK_NAME_LEN", "GFP_KERNEL", "O_CREAT", "O_DIRECTORY", "TASK_COMM_LEN",
      "PAGE_SIZE", "MAJOR(0x800001)", "MINOR(0x800001)", "NSEC_PER_SEC", "PF_KTHREAD",
    }
    local puts = {}
    for i, name in ipairs(names) do
      puts[#puts + 1] = string.format("PUT(%d, %s);", i - 1, name)
    end
    local b = BPF{text = [[
      #include <linux/blkdev.h>
      #include <linux/fs.h>
      #include <linux/gfp.h>
      BPF_ARRAY(out, u64, 32);
      #define PUT(i, v) do { int k = i; u64 x = v; out.update(&k, &x); } while (0)
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        ]] .. table.concat(puts, "\n        ") .. [[

        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    local got = {}
    for i, name in ipairs(names) do
      got[name] = tonumber(b["out"]:get(i - 1))
    end
    b:cleanup()
    local arm64 = io.popen("uname -m"):read("*l") == "aarch64"
    assert.are.same({
      REQ_OP_MASK = 255, REQ_OP_WRITE = 1,
      -- REQ_* follow the kernel's enum req_flag_bits, which 6.x numbers from bit 8.
      REQ_SYNC = 2 ^ kernel_enum_value("req_flag_bits", "__REQ_SYNC"),
      REQ_FUA = 2 ^ kernel_enum_value("req_flag_bits", "__REQ_FUA"),
      REQ_PREFLUSH = 2 ^ kernel_enum_value("req_flag_bits", "__REQ_PREFLUSH"),
      EINVAL = 22, ENOTSUPP = 524, EAGAIN = 11, FMODE_WRITE = 2, FMODE_CREATED = 0x100000,
      ["S_ISREG(0100644)"] = 1, ["S_ISDIR(0100644)"] = 0, ["S_ISDIR(040755)"] = 1,
      ["ntohs(0x1234)"] = 0x3412, ["htonl(1)"] = 0x01000000, DISK_NAME_LEN = 32,
      GFP_KERNEL = 0xcc0, O_CREAT = 64, O_DIRECTORY = arm64 and 0x4000 or 0x10000,
      TASK_COMM_LEN = 16, PAGE_SIZE = 4096, ["MAJOR(0x800001)"] = 8, ["MINOR(0x800001)"] = 1,
      NSEC_PER_SEC = 1e9, PF_KTHREAD = 0x200000,
    }, got)
    -- The values 6.1 through 6.18 give these bits.
    assert.are.same({2048, 2 ^ 17}, {got.REQ_SYNC, got.REQ_FUA})
  end)

  it("compiles a program's own struct nameidata and mnt_namespace, kernel structs vmlinux.h has", function()
    local who = 52000 + math.random(1000)
    local b = BPF{text = [[
      #include <linux/fs.h>
      #include <linux/nsproxy.h>
      /* As bcc's dcsnoop and mountsnoop declare them: the parts they read. */
      struct nameidata {
        struct path path;
        struct qstr last;
        u64 mine;
      };
      struct mnt_namespace { u64 pad; unsigned int mounts; };
      BPF_ARRAY(out, u64, 4);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        struct nameidata nd = {};
        nd.mine = 7;
        int k = 0; u64 v = sizeof(struct nameidata);
        out.update(&k, &v);
        k = 1; v = nd.mine;
        out.update(&k, &v);
        k = 2; v = sizeof(struct mnt_namespace);
        out.update(&k, &v);
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    local out = b["out"]
    assert.are.same({16 + 16 + 8, 7, 16}, {out:get(0), out:get(1), out:get(2)})
    b:cleanup()
  end)

  it("keeps a program's own struct key apart from every map's key field", function()
    -- vmlinux.h has a struct key (the keyring's); renaming the word itself would rename
    -- the `key` field of every map definition too, and libbpf would refuse the maps.
    local who = 53000 + math.random(1000)
    local text = [[
      struct key { u32 who; int stack; };
      BPF_HASH(counts, struct key, u64);
      BPF_STACK_TRACE(stacks, 16);
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        if (args->who != WHO) return 0;
        struct key k = {.who = args->who, .stack = -1};
        counts.increment(k);
        return 0;
      }
    ]]
    local b = BPF{text = text, cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    h.getpriority(who)
    local n = 0
    for k, v in b["counts"]:items() do
      assert.are.same({who, -1}, {k.who, k.stack})
      n = n + tonumber(v)
    end
    assert.are.equal(2, n)
    b:cleanup()
    -- Positions in the text do not move: an error after the renamed tag keeps its column.
    local ok, err = pcall(BPF, {text = "struct key { u32 a; };\nint f(void *ctx) { struct key k; return k.b; }\n"})
    assert.is_false(ok)
    assert.matches(":2:43: error: no member named 'b' in 'struct key___bpflua'", tostring(err), 1, true)
  end)

  it("runs bcc's own tools through scripts/bcc_compat/run.lua and sums them up", function()
    if not compat.installed() then
      pending("bpfcc-tools is not installed")
      return
    end
    local output = compat.run("syscount,biopattern,runqlat,tplist,ppchcalls")
    local rows = compat.rows(output)
    local total, generated, compile, load, attach = output:match(
      "summary: (%d+) tools, (%d+) generated, (%d+) compile, (%d+) load, (%d+) attach")
    assert.truthy(total, output)
    assert.are.same({5, 4}, {tonumber(total), tonumber(generated)}, output)
    assert.is_true(tonumber(compile) >= 2 and tonumber(load) >= 2 and tonumber(attach) >= 2, output)
    -- syscount: a raw tracepoint and a tracepoint; biopattern: a TRACEPOINT_PROBE.
    assert.are.same({"yes", "yes", "yes 1/1", "yes 1/1"}, rows.syscount, output)
    assert.are.same({"yes", "yes", "yes 1/1", "yes 1/1"}, rows.biopattern, output)
    assert.are.same("skip", rows.tplist[1], output)
    -- Counted apart, with the reason: tplist has no program, ppchcalls probes powerpc's
    -- tracepoints (on x86-64 and arm64); the other three are counted.
    assert.truthy(output:match("\nppchcalls [^\n]* apart: powerpc's hcall tracepoints\n"), output)
    assert.truthy(output:match("\ntplist [^\n]* apart: lists tracepoints"), output)
    local apart, counted, attached = output:match("; (%d+) apart [^,]*, of the other (%d+): %d+ compile, %d+ load, (%d+) attach")
    assert.are.same({2, 3}, {tonumber(apart), tonumber(counted)}, output)
    assert.is_true(tonumber(attached) >= 2, output)
  end)

  it("gives the language tools a process of their runtime, or says why there is none", function()
    if not compat.installed() then
      pending("bpfcc-tools is not installed")
      return
    end
    -- python3.11 and a JDK come with scripts/setup.sh; Debian's perl has no USDT probes.
    local output, cache = compat.run("pythoncalls,javacalls,perlcalls,cobjnew")
    -- The targets end with the run (a JVM takes a moment to exit after its SIGTERM).
    local leftover
    for _ = 1, 50 do
      local pgrep = io.popen("pgrep -f '" .. cache .. "/target[s]'")
      leftover = pgrep:read("*a")
      pgrep:close()
      if leftover == "" then
        break
      end
      os.execute("sleep 0.1")
    end
    local rows = compat.rows(output)
    -- A Python process's function__entry and return probes, a JVM's method__entry (in
    -- libjvm.so), a sleeping C process's malloc: each found, compiled, loaded and attached.
    assert.are.same({"yes", "yes", "yes 1/1", "yes 1/1"}, rows.pythoncalls, output)
    assert.are.same({"yes", "yes", "yes 1/1", "yes 1/1"}, rows.javacalls, output)
    assert.are.same({"yes", "yes", "yes 1/1", "yes 1/1"}, rows.cobjnew, output)
    -- The runner read perl's notes: counted apart, naming the file without them.
    assert.truthy(output:match("\nperlcalls [^\n]* apart: the installed perl is built without " ..
      "USDT probes %(/[^ ]*perl[^ ]* has no stapsdt notes%)\n"), output)
    assert.are.equal("", leftover)
  end)
end)
