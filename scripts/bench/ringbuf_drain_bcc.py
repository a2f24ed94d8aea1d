"""bcc's side of ringbuf_drain.lua: drains the benchmark's ring (opened by its kernel id)
with bcc's own RingBuf class, open_ring_buffer() and BPF.ring_buffer_consume(), through a
Python callback that reads the seq field of each event, as a bcc tool would. One drain per
"round" line on stdin, after the benchmark has filled the ring. It answers on descriptor 3:
first "ready", or "unavailable REASON" when bcc cannot run here; then per round "NS SUM N".

    /usr/bin/python3 -B ringbuf_drain_bcc.py MAP_ID 3>RESULTS

How bcc runs on a machine without kernel headers: see bcc_bench.py."""
import ctypes as ct
import sys
import time

import bcc_bench


class Event(ct.Structure):
    """The benchmark's struct event."""
    _fields_ = [("seq", ct.c_uint64), ("a", ct.c_uint64), ("b", ct.c_uint64)]


EventPointer = ct.POINTER(Event)

map_id = int(sys.argv[1])
results = bcc_bench.connect()
# A one-page ring of bcc's own makes Table() pick RingBuf; the RingBuf then opens ours.
b, ring = bcc_bench.table_on_map(results, "BPF_RINGBUF_OUTPUT(events, 1);", "events", map_id)

total = count = 0


def on_event(ctx, data, size):
    global total, count
    total += ct.cast(data, EventPointer).contents.seq
    count += 1


ring.open_ring_buffer(on_event)
results.write("ready\n")

for line in sys.stdin:
    if line.strip() != "round":
        break
    total = count = 0
    start = time.perf_counter_ns()
    # bcc drops libbpf's count of records consumed; the callback counts them instead.
    b.ring_buffer_consume()
    elapsed = time.perf_counter_ns() - start
    results.write("%d %d %d\n" % (elapsed, total, count))
