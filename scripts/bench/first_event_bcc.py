"""bcc's side of first_event.lua: the benchmark's probe (a getpriority tracepoint for one
`who`, an event through a perf buffer) with bcc's Python API, printing "event" at its first
event and exiting, as a bcc tool started by hand would. Prints "unavailable REASON" instead
when bcc cannot run here.

    /usr/bin/python3 -B first_event_bcc.py WHO

How bcc runs on a machine without kernel headers: see bcc_bench.py (the stand-in tree is
enough here: the program uses no kernel types)."""
import sys

import bcc_bench

who = int(sys.argv[1])
b = bcc_bench.compile_program(sys.stdout, """
BPF_PERF_OUTPUT(events);
TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
    if (args->who != %d)
        return 0;
    u32 who = args->who;
    events.perf_submit(args, &who, sizeof(who));
    return 0;
}
""" % who)
seen = []
b["events"].open_perf_buffer(lambda cpu, data, size: seen.append(1))
while not seen:
    b.perf_buffer_poll()
print("event", flush=True)
