"""bcc's side of perfbuf_drain.lua: drains the benchmark's perf buffer map for bcc (opened by
its kernel id) with bcc's own PerfEventArray class, open_perf_buffer() and
BPF.perf_buffer_consume(), through a Python callback that reads the seq field of each sample,
as a bcc tool would. One drain per "round" line on stdin, after the benchmark has filled the
buffer. It answers on descriptor 3: first "ready", or "unavailable REASON" when bcc cannot
run here; then per round "NS SUM N LOST".

    /usr/bin/python3 -B perfbuf_drain_bcc.py MAP_ID PAGE_CNT 3>RESULTS

How bcc runs on a machine without kernel headers: see bcc_bench.py."""
import ctypes as ct
import sys
import time

import bcc_bench


class Event(ct.Structure):
    """The benchmark's struct event."""
    _fields_ = [("seq", ct.c_uint64), ("a", ct.c_uint64), ("b", ct.c_uint64)]


EventPointer = ct.POINTER(Event)

map_id, page_cnt = int(sys.argv[1]), int(sys.argv[2])
results = bcc_bench.connect()
# bcc's own BPF_PERF_OUTPUT makes Table() pick PerfEventArray; it then opens ours: its perf
# events go into our map's slots.
b, events = bcc_bench.table_on_map(results, "BPF_PERF_OUTPUT(events);", "events", map_id)

total = count = lost = 0


def on_sample(cpu, data, size):
    global total, count
    total += ct.cast(data, EventPointer).contents.seq
    count += 1


def on_lost(n):
    global lost
    lost += n


events.open_perf_buffer(on_sample, page_cnt=page_cnt, lost_cb=on_lost)
results.write("ready\n")

for line in sys.stdin:
    if line.strip() != "round":
        break
    total = count = lost = 0
    start = time.perf_counter_ns()
    b.perf_buffer_consume()
    elapsed = time.perf_counter_ns() - start
    results.write("%d %d %d %d\n" % (elapsed, total, count, lost))
