-- The ring protocol's memory order for the Lua readers (ringbuf.lua, perfbuf.lua), as
-- libbpf's smp_load_acquire / smp_store_release: the producer position and a ring record's
-- header are loaded with acquire semantics (nothing after the load may be read before it),
-- the consumer position is stored with release semantics (nothing before the store may
-- be read after it).
--
-- On x86-64 a plain load is an acquire and a plain store a release in hardware (TSO), so
-- plain FFI accesses suffice as long as the compiler keeps them in program order. LuaJIT
-- does: its backend emits memory operations in IR order (it has no instruction scheduler),
-- and its optimizer only removes or forwards FFI loads (XLOAD), never moves one past an
-- FFI store (XSTORE) that may alias it, an FFI call (CALLXS) or a barrier (XBAR). The loads
-- of the producer position and the store of the consumer position are all uint64_t
-- through pointers it cannot tell apart, so the load after a store is never forwarded from
-- an earlier one nor hoisted out of the loop; record headers are loaded from addresses
-- that change with every record. (LuaJIT ignores `volatile` on FFI types, so it could not
-- help here.)
--
-- Everywhere else (arm64, ...) the accesses go through small C functions in libbpflua
-- (runtime/ring_reader.c: __atomic_load_n / __atomic_store_n): an FFI call each, which is
-- also a compiler barrier for LuaJIT. BPFLUA_RING_ATOMICS=1 takes that path on x86-64 too,
-- so that it is tested (spec/ring_memory_order_spec.lua) and measured here.
local ffi = require("ffi")
local lib = require("bpflua.cdefs")

local M = {}

if ffi.arch == "x64" and os.getenv("BPFLUA_RING_ATOMICS") ~= "1" then
  -- p is a uint64_t * (positions) or an int32_t * (a ring record's header).
  function M.load_acquire(p)
    return p[0]
  end
  M.load_acquire_s32 = M.load_acquire
  function M.store_release(p, value)
    p[0] = value
  end
  M.plain = true
else
  M.load_acquire = lib.bpflua_load_acquire_u64
  M.load_acquire_s32 = lib.bpflua_load_acquire_s32
  M.store_release = lib.bpflua_store_release_u64
  M.plain = false
end

return M
