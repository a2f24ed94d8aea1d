-- filelife.lua: files created and then deleted, with their age at deletion, as bcc's
-- filelife.
-- Probes: kprobes, as bcc: vfs_create, vfs_open (files it creates), security_inode_create
-- (creations that bypass vfs_create), and vfs_unlink with its return. A kernel without
-- kprobes cannot run it.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "filelife.lua [-h] [-p PID]",
  description = "Trace lifecycle of file",
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  examples = [[examples:
    filelife.lua           # trace lifecycle of file(create->remove)
    filelife.lua -p 181    # only trace PID 181
Probes vfs_create, vfs_open, security_inode_create and vfs_unlink with kprobes, as bcc does:
it needs a kernel with kprobes.]],
})

-- Since Linux 5.12 vfs_create and vfs_unlink take an idmap (a user namespace before 6.3) first:
-- the dentry is their third argument. BTF names renamedata's members of those kernels.
local function kernel_btf_has(name)
  local f = io.open("/sys/kernel/btf/vmlinux", "rb")
  if not f then
    return false
  end
  local data = f:read("*a")
  f:close()
  return data:find("\0" .. name .. "\0", 1, true) ~= nil
end
local idmapped = kernel_btf_has("new_mnt_idmap") or kernel_btf_has("old_mnt_userns")

local b = BPF{text = [[
  struct data_t {
    u32 pid;
    u64 delta;
    char comm[TASK_COMM_LEN];
    char fname[DNAME_INLINE_LEN];
    u64 dentry;   /* private: removed from birth when the unlink succeeds */
  };
  BPF_HASH(birth, u64, u64, 10240);
  BPF_HASH(unlink_data, u32, struct data_t, 10240);
  BPF_RINGBUF_OUTPUT(events, 64);

  static int probe_dentry(struct dentry *dentry)
  {
    u32 pid = bpf_get_current_pid_tgid() >> 32;
    if (PID && pid != PID) return 0;
    u64 key = (u64)dentry, ts = bpf_ktime_get_ns();
    birth.update(&key, &ts);
    return 0;
  }

  #if IDMAPPED
  int trace_create(struct pt_regs *ctx, void *idmap, struct inode *dir, struct dentry *dentry)
  #else
  int trace_create(struct pt_regs *ctx, struct inode *dir, struct dentry *dentry)
  #endif
  {
    return probe_dentry(dentry);
  }

  int trace_security_inode_create(struct pt_regs *ctx, struct inode *dir, struct dentry *dentry)
  {
    return probe_dentry(dentry);
  }

  int trace_open(struct pt_regs *ctx, struct path *path, struct file *file)
  {
    if (!(BPF_CORE_READ(file, f_mode) & FMODE_CREATED)) return 0;
    return probe_dentry(BPF_CORE_READ(path, dentry));
  }

  #if IDMAPPED
  int trace_unlink(struct pt_regs *ctx, void *idmap, struct inode *dir, struct dentry *dentry)
  #else
  int trace_unlink(struct pt_regs *ctx, struct inode *dir, struct dentry *dentry)
  #endif
  {
    u64 pid_tgid = bpf_get_current_pid_tgid();
    u32 pid = pid_tgid >> 32, tid = pid_tgid;
    if (PID && pid != PID) return 0;
    u64 key = (u64)dentry;
    u64 *tsp = birth.lookup(&key);
    if (!tsp) return 0;   /* created before tracing began */
    struct data_t data = {.pid = pid, .delta = (bpf_ktime_get_ns() - *tsp) / 1000000, .dentry = key};
    if (BPF_CORE_READ(dentry, d_name.len) == 0) return 0;
    bpf_get_current_comm(&data.comm, sizeof(data.comm));
    bpf_probe_read_kernel_str(&data.fname, sizeof(data.fname), BPF_CORE_READ(dentry, d_name.name));
    unlink_data.update(&tid, &data);
    return 0;
  }

  int trace_unlink_ret(struct pt_regs *ctx)
  {
    u32 tid = bpf_get_current_pid_tgid();
    struct data_t *data = unlink_data.lookup(&tid);
    if (!data) return 0;
    if (PT_REGS_RC(ctx) == 0) {   /* a failed unlink leaves the file alive */
      birth.delete(&data->dentry);
      events.ringbuf_output(data, sizeof(*data), 0);
    }
    unlink_data.delete(&tid);
    return 0;
  }
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DIDMAPPED=" .. (idmapped and 1 or 0)}}

local ok, err = pcall(function()
  b:attach_kprobe{event = "vfs_create", fn_name = "trace_create"}
  b:attach_kprobe{event = "vfs_open", fn_name = "trace_open"}
  if #BPF.get_kprobe_functions("^security_inode_create$") > 0 then
    b:attach_kprobe{event = "security_inode_create", fn_name = "trace_security_inode_create"}
  end
  b:attach_kprobe{event = "vfs_unlink", fn_name = "trace_unlink"}
  b:attach_kretprobe{event = "vfs_unlink", fn_name = "trace_unlink_ret"}
end)
if not ok then
  args.fail("filelife.lua", err)
end

io.stdout:setvbuf("line")
print(string.format("%-8s %-7s %-16s %-7s %s", "TIME", "PID", "COMM", "AGE(s)", "FILE"))
local events = b["events"]
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  print(string.format("%-8s %-7d %-16s %-7.2f %s", os.date("%H:%M:%S"), e.pid, ffi.string(e.comm),
    tonumber(e.delta) / 1000, ffi.string(e.fname)))
end)
while true do
  b:ring_buffer_poll()
end
