-- bcc programs' C compiles on top of vmlinux.h: their includes, types, macros and helpers.
local BPF = require("bpflua")
local h = require("spec.helpers")

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
end)
