-- opensnoop.lua: trace open() calls system-wide, as bcc's opensnoop does.
local BPF = require("bpflua")
local ffi = require("ffi")
local args = require("bpflua.args")
local opts = args.parse(arg, {
  usage = "opensnoop.lua [-h] [-T] [-U] [-x] [-p PID] [-t TID] [--cgroupmap CGROUPMAP] " ..
    "[--mntnsmap MNTNSMAP] [-u UID] [-d DURATION] [-n NAME] " ..
    "[-e] [-f FLAG_FILTER] [-F] [-b BUFFER_PAGES]",
  description = "Trace open() syscalls",
  {"-T", "--timestamp", "timestamp", "flag", "include timestamp on output"},
  {"-U", "--print-uid", "print_uid", "flag", "print UID column"},
  {"-x", "--failed", "failed", "flag", "only show failed opens"},
  {"-p", "--pid", "pid", "number", "trace this PID only"},
  {"-t", "--tid", "tid", "number", "trace this TID only"},
  args.CONTAINER_OPTIONS[1], args.CONTAINER_OPTIONS[2],
  {"-u", "--uid", "uid", "number", "trace this UID only"},
  {"-d", "--duration", "duration", "number", "total duration of trace in seconds"},
  {"-n", "--name", "name", "string", "only print process names containing this name"},
  {"-e", "--extended_fields", "extended_fields", "flag", "show extended fields"},
  {"-f", "--flag_filter", "flag_filter", "list", "filter on flags argument (e.g., O_WRONLY)"},
  {"-F", "--full-path", "full_path", "flag", "show full path for an open file with relative path"},
  {"-b", "--buffer-pages", "buffer_pages", "number",
    "size of the ring buffer (must be a power of two number of pages and defaults to 64)",
    default = 64},
  examples = [[examples:
    opensnoop.lua                        # trace all open() syscalls
    opensnoop.lua -T                     # include timestamps
    opensnoop.lua -U                     # include UID
    opensnoop.lua -x                     # only show failed opens
    opensnoop.lua -p 181                 # only trace PID 181
    opensnoop.lua -t 123                 # only trace TID 123
    opensnoop.lua -u 1000                # only trace UID 1000
    opensnoop.lua -d 10                  # trace for 10 seconds only
    opensnoop.lua -n main                # only print process names containing "main"
    opensnoop.lua -e                     # show extended fields
    opensnoop.lua -f O_WRONLY -f O_RDWR  # only print calls for writing
    opensnoop.lua -F                     # show full path for an open file with relative path
    opensnoop.lua --cgroupmap mappath    # only trace cgroups in this BPF map
    opensnoop.lua --mntnsmap mappath     # only trace mount namespaces in the map]],
})

local function usage_error(message)
  io.stderr:write("opensnoop.lua: error: " .. message .. "\n")
  os.exit(2)
end

-- open(2)'s flag bits by name, for -f (Linux's generic values; arm64 moves four of them).
local O = {
  O_RDONLY = 0, O_WRONLY = tonumber("1", 8), O_RDWR = tonumber("2", 8),
  O_ACCMODE = tonumber("3", 8), O_CREAT = tonumber("100", 8), O_EXCL = tonumber("200", 8),
  O_NOCTTY = tonumber("400", 8), O_TRUNC = tonumber("1000", 8), O_APPEND = tonumber("2000", 8),
  O_NONBLOCK = tonumber("4000", 8), O_NDELAY = tonumber("4000", 8),
  O_DSYNC = tonumber("10000", 8), O_ASYNC = tonumber("20000", 8),
  O_DIRECT = tonumber("40000", 8), O_LARGEFILE = tonumber("100000", 8),
  O_DIRECTORY = tonumber("200000", 8), O_NOFOLLOW = tonumber("400000", 8),
  O_NOATIME = tonumber("1000000", 8), O_CLOEXEC = tonumber("2000000", 8),
  O_SYNC = tonumber("4010000", 8), O_RSYNC = tonumber("4010000", 8),
  O_PATH = tonumber("10000000", 8), O_TMPFILE = tonumber("20200000", 8),
}
if ffi.arch == "arm64" then
  O.O_DIRECTORY, O.O_NOFOLLOW = tonumber("40000", 8), tonumber("100000", 8)
  O.O_DIRECT, O.O_LARGEFILE = tonumber("200000", 8), tonumber("400000", 8)
end
local flag_mask = 0
for _, name in ipairs(opts.flag_filter or {}) do
  if not O[name] or not name:match("^O_") then
    usage_error("Bad flag: " .. name)
  end
  flag_mask = bit.bor(flag_mask, O[name])
end
local pages = opts.buffer_pages
if pages < 1 or bit.band(pages, pages - 1) ~= 0 then
  usage_error("-b/--buffer-pages must be a power of two, not " .. pages)
end

-- open() exists on x86-64 but not on arm64; openat2() since Linux 5.6.
local tracefs = require("bpflua.tracefs")
local function has_tracepoint(name)
  local path = tracefs.path("events/syscalls/" .. name .. "/id")
  local f = path and io.open(path)
  if f then
    f:close()
  end
  return f ~= nil
end

local b = BPF{text = args.container_filter("opensnoop.lua", opts) .. [[
  #define AT_FDCWD -100
  #define MAX_DIRS 32
  #define NAME_LEN 64
  struct pending { u64 ts; const char *filename; s32 dfd; s32 flags; };
  struct event {
    u64 ts; u32 pid; u32 tid; u32 uid; s32 ret; s32 flags; u32 dirs;
    char comm[TASK_COMM_LEN];
    char path[256];
    char dir[MAX_DIRS][NAME_LEN];   /* -F: the directory's names, innermost first */
  };
  BPF_HASH(entering, u32, struct pending);
  BPF_PERCPU_ARRAY(scratch, struct event, 1);
  BPF_RINGBUF_OUTPUT(events, PAGES);

  static int enter(const char *filename, int dfd, int flags) {
    u64 id = bpf_get_current_pid_tgid();
    if (PID && (id >> 32) != PID) return 0;
    if (TID && (u32)id != TID) return 0;
    if (UID >= 0 && (u32)bpf_get_current_uid_gid() != UID) return 0;
    if (FLAGS && !(flags & FLAGS)) return 0;
    if (container_should_be_filtered()) return 0;
    struct pending p = {bpf_ktime_get_ns(), filename, dfd, flags};
    u32 tid = id;
    entering.update(&tid, &p);
    return 0;
  }

  /* The names from dentry up to the root, crossing mount points as d_path() does: the
     directory a relative path starts from. A step across a mount point leaves an empty
     name; one counter only, so that the verifier's states at the loop's head converge. */
  static u32 walk_dirs(struct event *e, struct dentry *dentry, struct vfsmount *vfsmnt) {
    struct mount *mnt = container_of(vfsmnt, struct mount, mnt);
    u32 i;
    for (i = 0; i < MAX_DIRS; i++) {
      e->dir[i][0] = 0;
      if (dentry == BPF_CORE_READ(mnt, mnt.mnt_root)) {
        struct mount *parent = BPF_CORE_READ(mnt, mnt_parent);
        if (parent == mnt) break;
        dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
        mnt = parent;
        continue;
      }
      struct dentry *up = BPF_CORE_READ(dentry, d_parent);
      if (up == dentry) break;
      bpf_probe_read_kernel_str(e->dir[i], NAME_LEN, BPF_CORE_READ(dentry, d_name.name));
      dentry = up;
    }
    return i;
  }

  static void full_path(struct event *e, const char *filename, int dfd) {
    char first = 0;
    bpf_probe_read_user(&first, 1, filename);
    if (first == '/') return;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    struct path dir;
    if (dfd == AT_FDCWD) {
      dir = BPF_CORE_READ(task, fs, pwd);
    } else {
      struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
      struct file *f = NULL;
      bpf_probe_read_kernel(&f, sizeof(f), &fds[dfd & 0xffff]);
      if (!f) return;
      dir = BPF_CORE_READ(f, f_path);
    }
    e->dirs = walk_dirs(e, dir.dentry, dir.mnt);
  }

#if HAVE_OPEN
  TRACEPOINT_PROBE(syscalls, sys_enter_open) {
    return enter((const char *)args->filename, AT_FDCWD, args->flags);
  }
#endif

  TRACEPOINT_PROBE(syscalls, sys_enter_openat) {
    return enter((const char *)args->filename, args->dfd, args->flags);
  }

#if HAVE_OPENAT2
  TRACEPOINT_PROBE(syscalls, sys_enter_openat2) {
    struct open_how how = {};
    bpf_probe_read_user(&how, sizeof(how), (void *)args->how);
    return enter((const char *)args->filename, args->dfd, how.flags);
  }
#endif

  static int leave(long ret) {
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id;
    struct pending *p = entering.lookup(&tid);
    if (!p) return 0;
    /* Built aside and sent as long as it is: the directory names only when -F found a
       relative path, so that a burst of opens fits the ring buffer. */
    int zero = 0;
    struct event *e = scratch.lookup(&zero);
    if (e) {
      e->ts = p->ts;
      e->pid = id >> 32;
      e->tid = tid;
      e->uid = bpf_get_current_uid_gid();
      e->ret = ret;
      e->flags = p->flags;
      e->dirs = 0;
      bpf_get_current_comm(e->comm, sizeof(e->comm));
      bpf_probe_read_user_str(e->path, sizeof(e->path), p->filename);
      if (FULL_PATH)
        full_path(e, p->filename, p->dfd);
      u32 size = offsetof(struct event, dir) + (e->dirs & (MAX_DIRS - 1)) * NAME_LEN;
      if (e->dirs >= MAX_DIRS)
        size = sizeof(*e);
      events.ringbuf_output(e, size, 0);
    }
    entering.delete(&tid);
    return 0;
  }

#if HAVE_OPEN
  TRACEPOINT_PROBE(syscalls, sys_exit_open) { return leave(args->ret); }
#endif
  TRACEPOINT_PROBE(syscalls, sys_exit_openat) { return leave(args->ret); }
#if HAVE_OPENAT2
  TRACEPOINT_PROBE(syscalls, sys_exit_openat2) { return leave(args->ret); }
#endif
]], cflags = {"-DPID=" .. (opts.pid or 0), "-DTID=" .. (opts.tid or 0), "-DUID=" .. (opts.uid or -1),
  "-DFLAGS=" .. flag_mask, "-DFULL_PATH=" .. (opts.full_path and 1 or 0), "-DPAGES=" .. pages,
  "-DHAVE_OPEN=" .. (has_tracepoint("sys_enter_open") and 1 or 0),
  "-DHAVE_OPENAT2=" .. (has_tracepoint("sys_enter_openat2") and 1 or 0)}}

local events = b["events"]
local first_ts
events:open_ring_buffer(function(_, data)
  local e = events:event(data)
  local comm = ffi.string(e.comm)
  if (opts.name and not comm:find(opts.name, 1, true)) or (opts.failed and e.ret >= 0) then
    return
  end
  local fd, err = e.ret, 0
  if e.ret < 0 then
    fd, err = -1, -e.ret
  end
  local line = {}
  if opts.timestamp then
    first_ts = first_ts or e.ts
    line[#line + 1] = string.format("%-14.9f", tonumber(e.ts - first_ts) / 1e9)
  end
  if opts.print_uid then
    line[#line + 1] = string.format("%-6d", e.uid)
  end
  line[#line + 1] = string.format("%-6d %-16s %4d %3d ", opts.tid and e.tid or e.pid, comm, fd, err)
  if opts.extended_fields then
    line[#line + 1] = string.format("%08o ", e.flags)
  end
  local path = ffi.string(e.path)
  if opts.full_path and path:sub(1, 1) ~= "/" then
    local dirs = {}
    for i = e.dirs - 1, 0, -1 do
      local name = ffi.string(e.dir[i])
      if name ~= "" then  -- "": a step across a mount point
        dirs[#dirs + 1] = name
      end
    end
    dirs[#dirs + 1] = path
    path = "/" .. table.concat(dirs, "/")
  end
  line[#line + 1] = path
  print(table.concat(line))
end)

io.stdout:setvbuf("line")
print((opts.timestamp and string.format("%-14s", "TIME(s)") or "") ..
  (opts.print_uid and string.format("%-6s", "UID") or "") ..
  string.format("%-6s %-16s %4s %3s ", opts.tid and "TID" or "PID", "COMM", "FD", "ERR") ..
  (opts.extended_fields and string.format("%-9s", "FLAGS") or "") .. "PATH")
local stop = opts.duration and os.time() + opts.duration
while not stop or os.time() < stop do
  b:ring_buffer_poll(100)
end
