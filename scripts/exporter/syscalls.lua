-- Example exporter config: system calls counted by name and process name.
--   bpflua scripts/exporter.lua scripts/exporter/syscalls.lua
local syscalls = require("bpflua.syscalls")

return {programs = {{
  text = [[
    struct key_t { u32 nr; char comm[16]; };
    BPF_HASH(calls, struct key_t, u64, 10240);
    TRACEPOINT_PROBE(raw_syscalls, sys_enter) {
      struct key_t key = {.nr = (u32)args->id};
      bpf_get_current_comm(&key.comm, sizeof(key.comm));
      calls.atomic_increment(key);
      return 0;
    }
  ]],
  metrics = {{
    table = "calls", name = "bpflua_syscalls_total", type = "counter",
    help = "System calls entered, by syscall and process name.",
    labels = {{name = "syscall", map = syscalls.name}, "comm"},
  }},
}}}
