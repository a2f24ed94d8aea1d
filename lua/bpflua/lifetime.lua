-- What a BPF object owns and how it is torn down: one path for b:cleanup() and for the
-- garbage collector, and collection that keeps up with objects dropped without cleanup().
--
-- A BPF object's loaded handle carries the finalizer (ffi.gc), and the finalizer is
-- teardown(state, handle). The state must never reach the handle, or the handle would stay
-- reachable from its own finalizer and never be collected: so it holds the attachments
-- and closers of the object (cdata and small closures), and only weak references to what
-- reaches user code (pollers, whose rings hold the callbacks, which hold the object).
-- Pollers and rings dropped with the object close themselves through their own ffi.gc.
local ffi = require("ffi")

local M = {}

local State = {}
State.__index = State

-- Objects loaded and not yet torn down, and that count after the last full collection we
-- ran: a new object beyond twice as many (and a margin) first collects the garbage, so that
-- dropped objects do not pile up probes (a tracepoint takes a bounded number of programs)
-- or descriptors while the collector, which cannot see what a cdata holds in the kernel,
-- takes its time.
local live, live_after_collect = 0, 0
local COLLECT_MARGIN = 32

function M.new()
  live = live + 1
  return setmetatable({
    closed = false,
    _closers = {},
    pollers = setmetatable({}, {__mode = "k"}),
  }, State)
end

local function close_resource(entry)
  local resource, closer = entry[1], entry[2]
  if type(resource) == "cdata" then
    ffi.gc(resource, nil)
  end
  -- A finalizer must not raise (LuaJIT would rethrow wherever the collector ran).
  pcall(closer, resource)
end

-- Runs closer(resource) at teardown, unless release(resource) ran first. The resource should
-- carry an ffi.gc finalizer of its own as well, from the moment it exists; teardown removes
-- it before calling closer.
function State:own(resource, closer)
  self._closers[#self._closers + 1] = {resource, closer}
end

-- Closes one owned resource now (a detach); false when it was not owned.
function State:release(resource)
  local closers = self._closers
  for i = #closers, 1, -1 do
    if closers[i][1] == resource then
      close_resource(table.remove(closers, i))
      return true
    end
  end
  return false
end

-- Tears the object down: pollers stop (one walking its rings from inside a callback stops
-- after that callback and unmaps when its walk ends), attachments detach newest first, the
-- rest of what was owned closes, then the object itself. Safe to call twice.
function M.teardown(state, handle, close_handle)
  if state.closed then
    return
  end
  state.closed = true
  live = live - 1
  for poller in pairs(state.pollers) do
    pcall(poller.close, poller)
  end
  local closers = state._closers
  state._closers = {}
  for i = #closers, 1, -1 do
    close_resource(closers[i])
  end
  if handle ~= nil then
    pcall(close_handle, handle)
  end
end

-- closer wrapped to run at most once, for a resource that is both ffi.gc'd and closed
-- explicitly: when the Lua state closes, LuaJIT runs every pending finalizer whatever is
-- still reachable, so an explicit close (a teardown) and the resource's own finalizer may
-- both come, in either order.
function M.once(closer)
  local done = false
  return function(resource)
    if not done then
      done = true
      closer(resource)
    end
  end
end

-- Before loading another object: collect dropped ones once there are many.
function M.before_load()
  if live > 2 * live_after_collect + COLLECT_MARGIN then
    M.collect()
  end
end

-- A full collection; true when it tore down dropped objects (worth retrying a load or an
-- attach that the kernel refused for want of room).
function M.collect()
  local before = live
  collectgarbage()
  collectgarbage() -- the first cycle runs the finalizers; the second frees what they held
  live_after_collect = live
  return live < before
end

function M.live_objects()
  return live
end

return M
