-- Which tools the runner counts apart: a tool whose first failure says that what it needs is
-- not on this machine (a kernel feature, a module, a library, a process of some language, a
-- CPU) is no measure of bpflua, and bcc fails it the same way. Each rule is a Lua pattern
-- of the row's first failure (plain text after "=") and the reason printed for it; %1 is the
-- pattern's first capture. A tool whose failure matches none is counted.
--
-- These are deliberately narrow: a failure of bpflua's own (compile, verifier, attach
-- errors) matches none of them.
return {
  -- The tool's own Python refused to start on this machine, before it made any program.
  {"^tool stopped before BPF%(%) %(exit%): (.+)$", "the tool exits here: %1"},
  {"^tool failed before BPF%(%): (.+)$", "the tool fails here: %1"},
  -- The runner could not start the process the tool traces (targets.lua): not installed, or
  -- its runtime is built without USDT probes (the runner read its notes).
  {"^no target: (.+)$", "%1"},
  {"^no program: the tool found no process to probe",
    "no process of the tool's language runtime (with its USDT probes) runs here"},
  -- Only a load was possible: the programs passed the verifier, but nothing can attach.
  {"^this kernel has no kprobes$", "needs kprobes, which this kernel lacks (its programs load)"},
  -- The tool chose a kernel function (by name, or from kallsyms) that this kernel has not
  -- got or cannot trace (inlined, notrace): bcc 0.26's tools predate some kernels' changes.
  {"^kernel function '([^']+)' is not traceable on this kernel",
    "probes %1, which this kernel cannot trace (absent, inlined or notrace; bcc fails the same)"},
  {"cannot use helper bpf_override_return",
    "bpf_override_return needs a kernel with CONFIG_BPF_KPROBE_OVERRIDE (kprobes), which this one lacks"},
  {"^cannot find library '([^']+)'", "library %1 is not installed"},
  {"^no symbol 'pthread_create' in [^ ]*libpthread",
    "glibc 2.34+ has pthread_create in libc, and the tool probes libpthread (bcc fails the same)"},
  {"raw_tracepoint/hcall_", "powerpc's hcall tracepoints"},
  {"^cannot open perf event %(type 0, ", "no hardware PMU events here (a virtual machine)"},
  {"raw_tracepoint/mm_compaction_begin%): Invalid argument",
    "the tool reads a 5th argument of mm_compaction_begin, which this kernel's has not " ..
    "(cc, zone_start, zone_end, sync); bcc's attach fails the same (EINVAL)"},
  -- inject on 6.1: bcc 0.26's own inject-bpfcc (kmalloc '__x64_sys_mount()') fails there the
  -- same, on the same p->stack[p->conds_met - 1] (run in scripts/vmtest.sh's guest); 6.18's
  -- verifier takes it.
  {"^verifier: math between map_value pointer and register with unbounded min value is not allowed$",
    "the verifier of this kernel refuses inject's p->stack[p->conds_met - 1]; bcc's own inject fails the same"},
  {"incomplete definition of type 'struct nfs_", "the nfs module is not built in: its types are not in vmlinux BTF"},
  {"nfs_[%w_]+[^\n]*No such file or directory", "the nfs module is not loaded"},
}
