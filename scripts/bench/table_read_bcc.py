"""bcc's side of table_read.lua: times bcc Python's items() (and its items_lookup_batch())
over the map the benchmark fills, opened by its kernel id, one round per "round" line on
stdin. It answers on descriptor 3: first "ready", or "unavailable REASON" when bcc cannot
run here; then per round "NS_ITEMS SUM_ITEMS NS_BATCH SUM_BATCH N".

    /usr/bin/python3 -B table_read_bcc.py MAP_ID MAX_ENTRIES 3>RESULTS

How bcc runs on a machine without kernel headers: see bcc_bench.py."""
import sys
import time

import bcc_bench

map_id, max_entries = int(sys.argv[1]), int(sys.argv[2])
results = bcc_bench.connect()
# bcc's own Table class (a HashTable here), on the benchmark's map.
_, table = bcc_bench.table_on_map(results, "BPF_HASH(table, u32, u64, 1);", "table", map_id)
# items_lookup_batch reads into arrays of max_entries, which bcc took from its own table.
table.max_entries = max_entries
results.write("ready\n")

for line in sys.stdin:
    if line.strip() != "round":
        break
    start = time.perf_counter_ns()
    total_items = n = 0
    for _, v in table.items():
        total_items += v.value
        n += 1
    items_ns = time.perf_counter_ns() - start
    start = time.perf_counter_ns()
    total_batch = 0
    for _, v in table.items_lookup_batch():
        total_batch += v  # ctypes gives the array's integers as Python ints
    batch_ns = time.perf_counter_ns() - start
    results.write("%d %d %d %d %d\n" % (items_ns, total_items, batch_ns, total_batch, n))
