-- The Lua classes of the map kinds beyond bcc's hash/array family, ring and perf buffers and
-- stack traces, by libbpf's name for the map type (Table.map_type): bpf.lua's get_table asks
-- here first.
return {
  prog_array = require("bpflua.prog_array"),
}
