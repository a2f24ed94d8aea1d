-- The Lua classes of the map kinds beyond bcc's hash/array family, ring and perf buffers and
-- stack traces, by libbpf's name for the map type (Table.map_type): bpf.lua's get_table asks
-- here first. LPM tries and LRU per-CPU hashes are plain Tables (keys as tables of fields:
-- t:get{prefixlen = 24, addr = {10, 0, 0, 0}}). Each class's module loads when a table of
-- its kind is first opened: a program of hashes and arrays loads none of them.
local modules = {
  prog_array = "bpflua.prog_array",
  queue = "bpflua.queue_stack",
  stack = "bpflua.queue_stack",
  array_of_maps = "bpflua.map_of_maps",
  hash_of_maps = "bpflua.map_of_maps",
  cgroup_array = "bpflua.cgroup_array",
  task_storage = "bpflua.local_storage",
  inode_storage = "bpflua.local_storage",
  sk_storage = "bpflua.local_storage",
}

return setmetatable({}, {
  __index = function(classes, map_type)
    local module = modules[map_type]
    if module then
      local class = require(module)
      classes[map_type] = class
      return class
    end
  end,
})
