-- What the runner passes to the bcc tools that do not start without arguments: the least a
-- user would type, choosing targets that exist on any machine. Placeholders, filled in by
-- run.lua: {pid} a process the runner starts (Debian's python3, which has USDT probes),
-- {blockdev} the first disk in /sys/block, {netdev} the loopback interface, {libc} the C
-- library's path.
-- A tool not listed runs with no arguments. `tty = true` runs it under a pseudo-terminal
-- (curses tools). `skip` says why a tool has no BPF program to check. `absent = {pattern,
-- reason}` counts the tool apart when its first failure matches, as absent.lua's rules do.
return {
  argdist = {args = {"-C", "p:c:malloc(size_t size):size_t:size"}},
  biolatpcts = {args = {"{blockdev}"}},
  cachetop = {tty = true},
  cobjnew = {args = {"{pid}"}},
  dbslower = {args = {"mysql", "-x", "/usr/bin/true"}},
  dbstat = {args = {"mysql", "-p", "{pid}"}},
  -- As its help says for a dynamically linked program: the pthread library it uses (libc's
  -- since glibc 2.34).
  deadlock = {args = {"{pid}", "--binary", "{libc}"}},
  dirtop = {args = {"-d", "/tmp"}},
  funccount = {args = {"vfs_read"}},
  funcinterval = {args = {"vfs_read"}},
  funclatency = {args = {"vfs_read"}},
  funcslower = {args = {"vfs_read"}},
  -- A call chain whose top is another function than should_failslab: with only
  -- "should_failslab()" bcc 0.26 defines should_failslab_entry twice (bcc cannot compile it).
  inject = {args = {"kmalloc", "__x64_sys_mount()"}},
  javacalls = {args = {"{pid}"}},
  javaflow = {args = {"{pid}"}},
  javagc = {args = {"{pid}"}},
  javaobjnew = {args = {"{pid}"}},
  javathreads = {args = {"{pid}"}},
  mysqld_qslower = {args = {"{pid}"}},
  netqtop = {args = {"-n", "{netdev}"}},
  nodegc = {args = {"{pid}"}},
  perlcalls = {args = {"{pid}"}},
  perlflow = {args = {"{pid}"}},
  -- {pid} is a Python process: PHP's function__entry has a 4th argument, Python's has not.
  phpcalls = {args = {"{pid}"}, absent = {"_bpf_readarg_[%w_]+_N%)$", "needs a PHP process (the runner has Python's)"}},
  phpflow = {args = {"{pid}"}, absent = {"_bpf_readarg_[%w_]+_N%)$", "needs a PHP process (the runner has Python's)"}},
  pythoncalls = {args = {"{pid}"}},
  pythonflow = {args = {"{pid}"}},
  pythongc = {args = {"{pid}"}},
  rubycalls = {args = {"{pid}"}},
  rubyflow = {args = {"{pid}"}},
  rubygc = {args = {"{pid}"}},
  rubyobjnew = {args = {"{pid}"}},
  stackcount = {args = {"submit_bio"}},
  tclcalls = {args = {"{pid}"}},
  tclflow = {args = {"{pid}"}},
  tclobjnew = {args = {"{pid}"}},
  trace = {args = {"do_sys_openat2 \"%s\", arg2"}},
  ttysnoop = {args = {"/dev/null"}},
  bpflist = {skip = "lists loaded BPF programs; has none of its own"},
  tplist = {skip = "lists tracepoints and USDT probes; has no BPF program"},
  ["reset-trace"] = {skip = "a shell script that resets tracefs; has no BPF program"},
}
