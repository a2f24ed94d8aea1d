-- What the runner passes to the bcc tools that do not start without arguments: the least a
-- user would type, choosing targets that exist on any machine. Placeholders, filled in by
-- run.lua: {pid:NAME} a process of target NAME of targets.lua (a Java, Ruby, PHP, Python,
-- ... program the runner starts, with its runtime's USDT probes mapped), {exe:NAME} that
-- target's executable (installed, not started), {blockdev} the first disk in /sys/block (a
-- loop device where there is none), {netdev} the loopback interface, {libc} the C library's
-- path.
-- A tool not listed runs with no arguments. `targets` names the target processes a tool
-- finds by itself (ustat's javastat, ... look for them by name). `tty = true` runs it under
-- a pseudo-terminal (curses tools). `skip` says why a tool has no BPF program to check.
-- `absent = {pattern, reason}` counts the tool apart when its first failure matches, as
-- absent.lua's rules do.
return {
  argdist = {args = {"-C", "p:c:malloc(size_t size):size_t:size"}},
  biolatpcts = {args = {"{blockdev}"}},
  cachetop = {tty = true},
  cobjnew = {args = {"{pid:c}"}},
  -- The server's executable, which dbslower probes with uprobes when it has no USDT probes.
  dbslower = {args = {"mysql", "-x", "{exe:mysql}"}},
  dbstat = {args = {"mysql", "-p", "{pid:mysql}"}},
  -- As its help says for a dynamically linked program: the pthread library it uses (libc's
  -- since glibc 2.34).
  deadlock = {args = {"{pid:c}", "--binary", "{libc}"}},
  dirtop = {args = {"-d", "/tmp"}},
  funccount = {args = {"vfs_read"}},
  funcinterval = {args = {"vfs_read"}},
  funclatency = {args = {"vfs_read"}},
  funcslower = {args = {"vfs_read"}},
  -- A call chain whose top is another function than should_failslab: with only
  -- "should_failslab()" bcc 0.26 defines should_failslab_entry twice (bcc cannot compile it).
  inject = {args = {"kmalloc", "__x64_sys_mount()"}},
  javacalls = {args = {"{pid:java}"}},
  javaflow = {args = {"{pid:java}"}},
  javagc = {args = {"{pid:java}"}},
  -- Its min(sizeof(key.name), (size_t)length) is bpf_probe_read_user's size: bcc 0.26 cannot
  -- compile it with 6.1's headers (their min() calls a compile-time assertion, which bcc
  -- takes for a helper call); bpflua compiles it, and LLVM passes the u32 size in a register
  -- whose upper half the verifier cannot bound.
  javaobjnew = {args = {"{pid:java}"}, absent = {"^verifier: R2 min value is negative",
    "bcc 0.26 cannot compile it either with 6.1's headers (\"cannot call non-static helper " ..
    "function\" in the kernel's min()); bpflua's build fails the verifier on its size argument"}},
  -- uthreads enables the C library's pthread_start probe in every process it traces.
  javathreads = {args = {"{pid:java}"}, absent = {"USDT probe 'pthread_start'",
    "uthreads needs the C library's pthread_start USDT probe, and this glibc has no USDT " ..
    "probes (libc.so.6 has no stapsdt notes; bcc fails the same)"}},
  mysqld_qslower = {args = {"{pid:mysql}"}},
  netqtop = {args = {"-n", "{netdev}"}},
  nodegc = {args = {"{pid:node}"}},
  perlcalls = {args = {"{pid:perl}"}},
  perlflow = {args = {"{pid:perl}"}},
  phpcalls = {args = {"{pid:php}"}},
  phpflow = {args = {"{pid:php}"}},
  pythoncalls = {args = {"{pid:python}"}},
  pythonflow = {args = {"{pid:python}"}},
  pythongc = {args = {"{pid:python}"}},
  rubycalls = {args = {"{pid:ruby}"}},
  rubyflow = {args = {"{pid:ruby}"}},
  rubygc = {args = {"{pid:ruby}"}},
  rubyobjnew = {args = {"{pid:ruby}"}},
  stackcount = {args = {"submit_bio"}},
  tclcalls = {args = {"{pid:tcl}"}},
  tclflow = {args = {"{pid:tcl}"}},
  tclobjnew = {args = {"{pid:tcl}"}},
  trace = {args = {"do_sys_openat2 \"%s\", arg2"}},
  ttysnoop = {args = {"/dev/null"}},
  javastat = {targets = {"java"}},
  nodestat = {targets = {"node"}},
  perlstat = {targets = {"perl"}},
  phpstat = {targets = {"php"}},
  pythonstat = {targets = {"python"}},
  rubystat = {targets = {"ruby"}},
  tclstat = {targets = {"tcl"}},
  bpflist = {skip = "lists loaded BPF programs; has none of its own"},
  tplist = {skip = "lists tracepoints and USDT probes; has no BPF program"},
  ["reset-trace"] = {skip = "a shell script that resets tracefs; has no BPF program"},
}
