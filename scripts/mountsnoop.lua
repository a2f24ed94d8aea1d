-- mountsnoop.lua: trace mount(2) and umount(2) system-wide, with their arguments decoded, as
-- bcc's mountsnoop.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "mountsnoop.lua [-h] [--cgroupmap CGROUPMAP] [--mntnsmap MNTNSMAP] [-P]",
  description = "trace mount() and umount() syscalls",
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  {"-P", "--parent_process", "parent", "flag", "also snoop the parent process"},
  examples = [[examples:
    mountsnoop.lua       # trace mount() and umount() system-wide
    mountsnoop.lua -P    # also show each caller's parent
(bcc's fsopen/fsmount/move_mount calls are not traced.)]],
})

-- include/uapi/linux/mount.h
local MS_MGC_VAL, MS_MGC_MSK = 0xc0ed0000, 0xffff0000
local MOUNT_FLAGS = {
  {"MS_RDONLY", 1}, {"MS_NOSUID", 2}, {"MS_NODEV", 4}, {"MS_NOEXEC", 8}, {"MS_SYNCHRONOUS", 16},
  {"MS_REMOUNT", 32}, {"MS_MANDLOCK", 64}, {"MS_DIRSYNC", 128}, {"MS_NOATIME", 1024},
  {"MS_NODIRATIME", 2048}, {"MS_BIND", 4096}, {"MS_MOVE", 8192}, {"MS_REC", 16384},
  {"MS_SILENT", 32768}, {"MS_POSIXACL", 2 ^ 16}, {"MS_UNBINDABLE", 2 ^ 17}, {"MS_PRIVATE", 2 ^ 18},
  {"MS_SLAVE", 2 ^ 19}, {"MS_SHARED", 2 ^ 20}, {"MS_RELATIME", 2 ^ 21}, {"MS_KERNMOUNT", 2 ^ 22},
  {"MS_I_VERSION", 2 ^ 23}, {"MS_STRICTATIME", 2 ^ 24}, {"MS_LAZYTIME", 2 ^ 25},
  {"MS_ACTIVE", 2 ^ 30}, {"MS_NOUSER", 2 ^ 31},
}
local UMOUNT_FLAGS = {{"MNT_FORCE", 1}, {"MNT_DETACH", 2}, {"MNT_EXPIRE", 4}, {"UMOUNT_NOFOLLOW", 8}}

-- "MS_NOSUID|MS_NODEV", with what no name covers in hex ("0x0" for no flags), as bcc.
local function decode_flags(flags, names, parts)
  parts = parts or {}
  for _, f in ipairs(names) do
    if bit.band(flags, f[2]) ~= 0 then
      parts[#parts + 1] = f[1]
      flags = bit.band(flags, bit.bnot(f[2]))
    end
  end
  if flags ~= 0 or #parts == 0 then
    parts[#parts + 1] = string.format("0x%x", bit.band(flags, 0xffffffff))
  end
  return table.concat(parts, "|")
end

local function mount_flags(flags)
  local parts = {}
  if bit.band(flags, MS_MGC_MSK) == bit.tobit(MS_MGC_VAL) then
    flags = bit.band(flags, bit.bnot(MS_MGC_MSK))
    parts[1] = "MS_MGC_VAL"
  end
  return decode_flags(flags, MOUNT_FLAGS, parts)
end

-- A C string as bcc quotes it: escapes for control characters, quotes and backslashes.
local ESCAPES = {["\a"] = "\\a", ["\b"] = "\\b", ["\t"] = "\\t", ["\n"] = "\\n", ["\v"] = "\\v",
                 ["\f"] = "\\f", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\"}
local function quoted(s)
  return '"' .. s:gsub('[%c"\\\128-\255]', function(c)
    return ESCAPES[c] or string.format("\\x%02x", c:byte())
  end) .. '"'
end

-- errno names, as Python's errno.errorcode gives them to bcc
local function errno_name(n)
  for _, header in ipairs({"/usr/include/asm-generic/errno-base.h", "/usr/include/asm-generic/errno.h"}) do
    local f = io.open(header)
    if f then
      for line in f:lines() do
        local name, v = line:match("^#define%s+(E%w+)%s+(%d+)")
        if name and tonumber(v) == n then
          f:close()
          return name
        end
      end
      f:close()
    end
  end
end

local function result(ret)
  if ret >= 0 then
    return tostring(ret)
  end
  local name = errno_name(-ret)
  return name and ("-" .. name) or tostring(ret)
end

local b = BPF{text = args.container_filter("mountsnoop.lua", opts) .. [[
  #define STR_LEN 256
  struct call {
    u64 flags;
    s32 ret;
    u32 pid, tid, ppid, mnt_ns, is_umount;
    char comm[TASK_COMM_LEN], pcomm[TASK_COMM_LEN];
    char source[STR_LEN], target[STR_LEN], type[STR_LEN], data[STR_LEN];
  };
  BPF_HASH(calls, u32, struct call, 1024);
  BPF_PERCPU_ARRAY(scratch, struct call, 1);
  BPF_RINGBUF_OUTPUT(events, 64);

  static struct call *entered(u32 is_umount, u64 flags)
  {
    if (container_should_be_filtered()) return 0;
    int zero = 0;
    struct call *c = scratch.lookup(&zero);
    if (!c) return 0;
    /* the scratch entry keeps the last call's text: empty what umount leaves unread */
    c->source[0] = c->type[0] = c->data[0] = 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    u64 id = bpf_get_current_pid_tgid();
    c->pid = id >> 32;
    c->tid = (u32)id;
    c->is_umount = is_umount;
    c->flags = flags;
    c->mnt_ns = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
    c->ppid = BPF_CORE_READ(task, real_parent, tgid);
    BPF_CORE_READ_STR_INTO(&c->pcomm, task, real_parent, comm);
    bpf_get_current_comm(&c->comm, sizeof(c->comm));
    return c;
  }

  TRACEPOINT_PROBE(syscalls, sys_enter_mount) {
    struct call *c = entered(0, args->flags);
    if (!c) return 0;
    bpf_probe_read_user_str(c->source, STR_LEN, args->dev_name);
    bpf_probe_read_user_str(c->target, STR_LEN, args->dir_name);
    bpf_probe_read_user_str(c->type, STR_LEN, args->type);
    bpf_probe_read_user_str(c->data, STR_LEN, args->data);
    calls.update(&c->tid, c);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_enter_umount) {
    struct call *c = entered(1, args->flags);
    if (!c) return 0;
    bpf_probe_read_user_str(c->target, STR_LEN, args->name);
    calls.update(&c->tid, c);
    return 0;
  }

  static int returned(long ret)
  {
    u32 tid = (u32)bpf_get_current_pid_tgid();
    struct call *c = calls.lookup(&tid);
    if (!c) return 0;
    c->ret = ret;
    events.ringbuf_output(c, sizeof(*c), 0);
    calls.delete(&tid);
    return 0;
  }

  TRACEPOINT_PROBE(syscalls, sys_exit_mount) { return returned(args->ret); }
  TRACEPOINT_PROBE(syscalls, sys_exit_umount) { return returned(args->ret); }
]]}

local events = b["events"]
io.stdout:setvbuf("line")
if opts.parent then
  print(string.format("%-16s %-7s %-7s %-16s %-7s %-11s %s", "COMM", "PID", "TID", "PCOMM", "PPID", "MNT_NS", "CALL"))
else
  print(string.format("%-16s %-7s %-7s %-11s %s", "COMM", "PID", "TID", "MNT_NS", "CALL"))
end
events:open_ring_buffer(function(_, data)
  local c = events:event(data)
  local flags = tonumber(c.flags)
  local call
  if c.is_umount == 1 then
    call = string.format("umount(%s, %s) = %s", quoted(ffi.string(c.target)),
      decode_flags(flags, UMOUNT_FLAGS), result(c.ret))
  else
    call = string.format("mount(%s, %s, %s, %s, %s) = %s", quoted(ffi.string(c.source)),
      quoted(ffi.string(c.target)), quoted(ffi.string(c.type)), mount_flags(flags),
      quoted(ffi.string(c.data)), result(c.ret))
  end
  if opts.parent then
    print(string.format("%-16s %-7d %-7d %-16s %-7d %-11d %s", ffi.string(c.comm), c.pid, c.tid,
      ffi.string(c.pcomm), c.ppid, c.mnt_ns, call))
  else
    print(string.format("%-16s %-7d %-7d %-11d %s", ffi.string(c.comm), c.pid, c.tid, c.mnt_ns, call))
  end
end)
while true do
  b:ring_buffer_poll()
end
