-- The Lua classes of the map kinds beyond bcc's hash/array family, ring and perf buffers and
-- stack traces, by libbpf's name for the map type (Table.map_type): bpf.lua's get_table asks
-- here first. LPM tries and LRU per-CPU hashes are plain Tables (keys as tables of fields:
-- t:get{prefixlen = 24, addr = {10, 0, 0, 0}}).
local QueueStack = require("bpflua.queue_stack")
local MapOfMaps = require("bpflua.map_of_maps")
local LocalStorage = require("bpflua.local_storage")

return {
  prog_array = require("bpflua.prog_array"),
  queue = QueueStack,
  stack = QueueStack,
  array_of_maps = MapOfMaps,
  hash_of_maps = MapOfMaps,
  cgroup_array = require("bpflua.cgroup_array"),
  task_storage = LocalStorage,
  inode_storage = LocalStorage,
  sk_storage = LocalStorage,
}
