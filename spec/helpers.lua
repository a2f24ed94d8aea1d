-- Shared by the specs: making events from this process, running commands, and counting what
-- the kernel has loaded, so specs can check that nothing is left behind.
local ffi = require("ffi")

ffi.cdef[[
int getpriority(int which, int who);
int getpid(void);
int bpf_prog_get_next_id(uint32_t start_id, uint32_t *next_id);
int bpf_link_get_next_id(uint32_t start_id, uint32_t *next_id);
int bpf_map_get_next_id(uint32_t start_id, uint32_t *next_id);
]]

local M = {}

local libbpf = ffi.load("bpf")

-- Specs need root and a kernel with BPF. Under CI=true a spec that cannot run fails; elsewhere
-- it is left pending with the reason.
function M.require_bpf()
  local lib = require("bpflua.cdefs")
  local err = ffi.new("char *[1]")
  if lib.bpflua_check_privileges(err) ~= 0 then
    local reason = ffi.string(err[0])
    lib.bpflua_free(err[0])
    if os.getenv("CI") == "true" then
      error("BPF is not available under CI: " .. reason)
    end
    return false, reason
  end
  return true
end

-- getpriority(PRIO_PROCESS, who): a syscall whose argument the BPF programs filter on, so a
-- spec counts only its own events. who need not exist: the syscall fails, the tracepoint fires.
function M.getpriority(who, which)
  return ffi.C.getpriority(which or 0, who)
end

function M.getpid()
  return ffi.C.getpid()
end

local function count_ids(next_id)
  local id, n = ffi.new("uint32_t[1]", 0), 0
  while next_id(id[0], id) == 0 do
    n = n + 1
  end
  return n
end

local function count_kernel_objects()
  return {
    progs = count_ids(libbpf.bpf_prog_get_next_id),
    links = count_ids(libbpf.bpf_link_get_next_id),
    maps = count_ids(libbpf.bpf_map_get_next_id),
  }
end

-- How many BPF programs, links and maps the kernel holds, system-wide, once the objects this
-- process has dropped are gone: the kernel frees closed maps and programs a little later, so
-- wait until the counts hold still.
function M.kernel_objects()
  collectgarbage()
  collectgarbage()
  local last, same = count_kernel_objects(), 0
  for _ = 1, 100 do
    os.execute("sleep 0.02")
    local now = count_kernel_objects()
    if now.progs == last.progs and now.links == last.links and now.maps == last.maps then
      same = same + 1
      if same == 3 then
        return now
      end
    else
      same = 0
    end
    last = now
  end
  return last
end

-- Asserts that the kernel holds what it held before (objects of this process that were
-- collected or closed are freed by the kernel asynchronously, so give it a moment).
function M.assert_kernel_objects(before)
  local now
  for _ = 1, 100 do
    collectgarbage()
    now = count_kernel_objects()
    if now.progs == before.progs and now.links == before.links and now.maps == before.maps then
      return
    end
    os.execute("sleep 0.02")
  end
  error(string.format("the kernel holds progs=%d links=%d maps=%d, before it held %d %d %d",
    now.progs, now.links, now.maps, before.progs, before.links, before.maps), 2)
end

-- Runs a shell command; returns stdout, stderr and the exit status.
function M.run(command)
  local out, err = os.tmpname(), os.tmpname()
  local ok, _, status = os.execute("( " .. command .. "\n) >" .. out .. " 2>" .. err)
  local function slurp(path)
    local f = io.open(path, "rb")
    local s = f:read("*a")
    f:close()
    os.remove(path)
    return s
  end
  -- LuaJIT's os.execute returns the raw wait status unless built with 5.2 compatibility.
  local code
  if type(ok) == "number" then
    code = ok >= 256 and math.floor(ok / 256) or ok
  else
    code = status
  end
  return slurp(out), slurp(err), code
end

-- Starts a trace script (a shell command line whose last command is the script), waits for
-- ready_pattern in its output, runs the workload, stops it with Ctrl-C unless it has ended by
-- itself, and returns its output and exit status.
function M.run_script(command, ready_pattern, workload)
  local out = os.tmpname()
  local script = string.format([[
    %s > %s 2>&1 & pid=$!
    for i in $(seq 1 200); do grep -q %q %s && break; sleep 0.05; done
    %s
    sleep 0.7
    kill -INT $pid 2>/dev/null; wait $pid; echo "status=$?"
  ]], command, out, ready_pattern, out, workload)
  local result = M.run(script)
  local f = io.open(out)
  local text = f:read("*a")
  f:close()
  os.remove(out)
  return text, tonumber(result:match("status=(%d+)"))
end

function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

function M.tmpdir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -p " .. path) == 0 or true)
  return path
end

-- A BPF object whose getpriority() probe runs body (with `args` at hand) for this process
-- only, after the declarations decls.
function M.probe(decls, body, cflags)
  local BPF = require("bpflua")
  local flags = {"-DPID=" .. M.getpid()}
  for _, f in ipairs(cflags or {}) do
    flags[#flags + 1] = f
  end
  return BPF{text = decls .. [[
    TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
      if ((bpf_get_current_pid_tgid() >> 32) != PID) return 0;
  ]] .. body .. [[
      return 0;
    }
  ]], cflags = flags}
end

-- A unique number per call, so that each spec's BPF source differs and misses the cache
-- when it needs to.
local counter = 0
function M.unique()
  counter = counter + 1
  return string.format("%d%03d", M.getpid(), counter)
end

return M
