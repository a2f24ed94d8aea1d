-- Example exporter config: run queue latency (woken or preempted while runnable, to running
-- on a CPU) as a histogram in seconds, with the total time for _sum.
--   bpflua scripts/exporter.lua scripts/exporter/runqlat.lua
return {programs = {{
  text = [[
    BPF_HASH(enqueued_at, u32, u64, 10240);
    BPF_HISTOGRAM(latency);
    BPF_ARRAY(latency_total, u64, 1);

    static int enqueued(u32 pid)
    {
      if (pid == 0)
        return 0;
      u64 ts = bpf_ktime_get_ns();
      enqueued_at.update(&pid, &ts);
      return 0;
    }

    TRACEPOINT_PROBE(sched, sched_wakeup) { return enqueued(args->pid); }
    TRACEPOINT_PROBE(sched, sched_wakeup_new) { return enqueued(args->pid); }

    TRACEPOINT_PROBE(sched, sched_switch) {
      if (args->prev_state == 0) /* preempted while runnable: back on the queue */
        enqueued(args->prev_pid);
      u32 pid = args->next_pid;
      u64 *ts = enqueued_at.lookup(&pid);
      if (!ts)
        return 0;
      u64 ns = bpf_ktime_get_ns() - *ts;
      enqueued_at.delete(&pid);
      latency.atomic_increment(bpf_log2l(ns));
      latency_total.atomic_increment(0, ns);
      return 0;
    }
  ]],
  metrics = {{
    table = "latency", name = "bpflua_runq_latency_seconds", type = "histogram",
    help = "Run queue latency: time from becoming runnable to running.",
    scale = 1e-9, sum = "latency_total",
  }},
}}}
