-- bitesize.lua: block I/O sizes as a histogram per process, as bcc's bitesize.
local BPF = require("bpflua")
local opts = require("bpflua.args").parse(arg, {
  usage = "bitesize.lua [-h] [-c COMM]",
  description = "Summarize block device I/O size as a histogram per process name",
  {"-c", "--comm", "comm", "string", "trace this process name only"},
})

local b = BPF{text = [[
  struct proc_key { char name[TASK_COMM_LEN]; u64 slot; };
  BPF_HISTOGRAM(dist, struct proc_key);
  TRACEPOINT_PROBE(block, block_rq_issue) {
    struct proc_key key = {.slot = bpf_log2l(args->bytes / 1024)};
    bpf_probe_read_kernel(key.name, sizeof(key.name), args->comm);
    if (COMM_FILTER) {
      char want[TASK_COMM_LEN] = COMM;
      for (int i = 0; i < TASK_COMM_LEN; i++) {
        if (key.name[i] != want[i]) return 0;
        if (!want[i]) break;
      }
    }
    dist.atomic_increment(key);
    return 0;
  }
]], cflags = {"-DCOMM_FILTER=" .. (opts.comm and 1 or 0),
              "-DCOMM=" .. string.format("%q", (opts.comm or ""):sub(1, 15))}}

io.stdout:setvbuf("line")
print("Tracing block I/O... Hit Ctrl-C to end.")
require("bpflua.intervals").run{report = function()
  b["dist"]:print_log2_hist("Kbytes", "Process Name")
end}
