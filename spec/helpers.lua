-- Shared by the specs: making events from this process, running commands, and counting what
-- the kernel has loaded, so specs can check that nothing is left behind.
local ffi = require("ffi")

ffi.cdef[[
int getpriority(int which, int who);
int getpid(void);
long readlink(const char *path, char *buf, size_t size);
int bpf_prog_get_fd_by_id(uint32_t id);
int bpf_map_get_fd_by_id(uint32_t id);
int bpf_link_get_fd_by_id(uint32_t id);
int close(int fd);
]]

local M = {}

local libbpf = ffi.load("bpf")
local lib = require("bpflua.cdefs")
local errors = require("bpflua.errors")

-- Specs need root and a kernel with BPF. Under CI=true a spec that cannot run fails; elsewhere
-- it is left pending with the reason.
function M.require_bpf()
  local err = errors.message_ptr()
  if lib.bpflua_check_privileges(err) ~= 0 then
    local reason = errors.take_c(err)
    if os.getenv("CI") == "true" then
      error("BPF is not available under CI: " .. reason)
    end
    return false, reason
  end
  return true
end

-- Kprobe specs (spec/kernel/) run in the VM that scripts/test.sh boots through
-- scripts/vmtest.sh, which sets BPFLUA_VMTEST there: in the VM and under CI=true a kernel
-- without kprobes fails the spec; elsewhere (this machine's kernel has none) it is left
-- pending with the reason.
function M.require_kprobes()
  local ok, reason = M.require_bpf()
  if not ok then
    return false, reason
  end
  if io.open("/sys/bus/event_source/devices/kprobe/type") then
    return true
  end
  reason = "this kernel has no kprobes (CONFIG_KPROBES is off); scripts/test.sh runs this spec in a VM"
  if os.getenv("CI") == "true" or os.getenv("BPFLUA_VMTEST") then
    error(reason)
  end
  return false, reason
end

-- getpriority(PRIO_PROCESS, who): a syscall whose argument the BPF programs filter on, so a
-- spec counts only its own events. who need not exist: the syscall fails, the tracepoint fires.
function M.getpriority(who, which)
  return ffi.C.getpriority(which or 0, who)
end

function M.getpid()
  return ffi.C.getpid()
end

local link_buf = ffi.new("char[256]")

local function readlink(path)
  local n = tonumber(ffi.C.readlink(path, link_buf, 256))
  return n > 0 and ffi.string(link_buf, n) or nil
end

-- The descriptors process pid holds (numbers).
local function fds(pid)
  local list = {}
  local ls = io.popen("ls /proc/" .. pid .. "/fd 2>/dev/null")
  for fd in ls:lines() do
    list[#list + 1] = tonumber(fd)
  end
  ls:close()
  return list
end

local fd_kinds = {
  ["anon_inode:bpf-prog"] = "progs", ["anon_inode:bpf-map"] = "maps",
  ["anon_inode:bpf_link"] = "links", ["anon_inode:[perf_event]"] = "perf_events",
}

-- What BPF objects this process holds, by kind: descriptors of programs, maps, links and
-- perf events, and mappings of maps (ring buffers) and perf events. Only this process's
-- own: other BPF users of the machine do not change it. Everything here is released
-- synchronously when bpflua closes it (the kernel frees the objects later, but no longer
-- on our account).
local function count_kernel_objects()
  local pid = M.getpid()
  local counts = {progs = 0, maps = 0, links = 0, perf_events = 0, mappings = 0}
  for _, fd in ipairs(fds(pid)) do
    local kind = fd_kinds[readlink("/proc/" .. pid .. "/fd/" .. fd) or ""]
    if kind then
      counts[kind] = counts[kind] + 1
    end
  end
  local maps = io.open("/proc/" .. pid .. "/maps")
  for line in maps:lines() do
    if line:find("anon_inode:bpf-map", 1, true) or line:find("anon_inode:[perf_event]", 1, true) then
      counts.mappings = counts.mappings + 1
    end
  end
  maps:close()
  return counts
end

local function describe(c)
  return string.format("progs=%d links=%d maps=%d perf_events=%d mappings=%d", c.progs, c.links,
    c.maps, c.perf_events, c.mappings)
end

-- The number of descriptors this process holds. Listed by a shell that os.execute waits
-- for, into a file: a listing read through io.popen races with popen itself, whose pipe's
-- write end the parent closes only after the child has started (and may be listing).
function M.open_fds()
  local out = os.tmpname()
  os.execute("ls /proc/" .. M.getpid() .. "/fd > " .. out)
  local n = 0
  for _ in io.lines(out) do
    n = n + 1
  end
  os.remove(out)
  return n
end

-- Collects what this process has dropped, for counts that must not depend on when the
-- collector runs: compiled traces hold their constants (objects of earlier specs among
-- them) until flushed, and what a finalizer releases is freed a cycle later.
function M.collect_all()
  jit.flush()
  collectgarbage()
  collectgarbage()
end

-- The BPF objects this process holds once the garbage it has dropped is collected.
function M.kernel_objects()
  M.collect_all()
  return count_kernel_objects()
end

-- Asserts that this process holds the BPF objects it held before (once collected).
function M.assert_kernel_objects(before)
  local now = M.kernel_objects()
  if describe(now) ~= describe(before) then
    error(string.format("this process holds %s, before it held %s", describe(now), describe(before)), 2)
  end
end

-- The ids of the programs, maps and links process pid holds (from /proc/PID/fdinfo), as
-- "prog:ID map:ID link:ID ..." text a child process can print.
function M.object_ids(pid)
  pid = pid or M.getpid()
  local ids = {}
  for _, fd in ipairs(fds(pid)) do
    local f = io.open("/proc/" .. pid .. "/fdinfo/" .. fd)
    if f then
      local info = f:read("*a")
      f:close()
      for kind, id in info:gmatch("(%a+)_id:%s*(%d+)") do
        if kind == "prog" or kind == "map" or kind == "link" then
          ids[#ids + 1] = kind .. ":" .. id
        end
      end
    end
  end
  return table.concat(ids, " ")
end

-- Asserts that none of the objects named by object_ids() text exists any more (after the
-- process that held them ended: the kernel frees them shortly after their last reference
-- goes, so wait for that, up to two seconds).
function M.assert_ids_gone(text)
  local open_by_id = {prog = libbpf.bpf_prog_get_fd_by_id, map = libbpf.bpf_map_get_fd_by_id,
                      link = libbpf.bpf_link_get_fd_by_id}
  local left
  for _ = 1, 100 do
    left = {}
    for kind, id in text:gmatch("(%a+):(%d+)") do
      local fd = open_by_id[kind](tonumber(id))
      if fd >= 0 then
        ffi.C.close(fd)
        left[#left + 1] = kind .. ":" .. id
      end
    end
    if #left == 0 then
      return
    end
    os.execute("sleep 0.02")
  end
  error("still in the kernel: " .. table.concat(left, " "), 2)
end

-- Runs fn, which reads the trace pipe, waiting while another process holds the pipe (the
-- kernel allows one reader; other spec runs on the machine take it for a moment): retries
-- while fn fails with the busy error, up to 60 seconds, then fails with that error.
function M.with_trace_pipe(fn)
  local deadline = os.time() + 60
  while true do
    local result = {pcall(fn)}
    if result[1] then
      return unpack(result, 2, table.maxn(result))
    end
    if not tostring(result[2]):find("another process is reading it", 1, true) or os.time() > deadline then
      error(result[2], 0)
    end
    os.execute("sleep 0.1")
  end
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

-- Rows of a tool's output that follow its header line (without the host's closing
-- "bpflua: interrupted").
function M.rows_after(text, header)
  local rows, seen = {}, false
  for line in text:gmatch("[^\n]+") do
    if seen and line ~= "bpflua: interrupted" then
      rows[#rows + 1] = line
    elseif line:find(header, 1, true) then
      seen = true
    end
  end
  return rows
end

function M.tmpdir()
  local path = os.tmpname()
  os.remove(path)
  assert(os.execute("mkdir -p " .. path) == 0 or true)
  return path
end

-- A cache directory of the specs' own, private as bpflua wants one (mode 700).
function M.private_cache_dir()
  local dir = M.tmpdir()
  os.execute("chmod 700 " .. dir)
  return dir
end

-- Waits for the prelude a compile without one left building in the background in the cache
-- dir (its builder holds the lock in the cache's kernel directory).
function M.wait_for_prelude(dir)
  M.run("for l in " .. dir .. "/kernel-*/prelude.lock; do [ -e \"$l\" ] && flock \"$l\" true; done")
end

-- The C of a program counting getpriority(0, tag) calls in counts[0], for the cache specs:
-- each tag makes a program of its own.
function M.counting_probe_source(tag)
  return "BPF_ARRAY(counts, u64, 1);\n" ..
    "TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {\n" ..
    "  if (args->who != " .. tag .. ") return 0;\n  counts.increment(0);\n  return 0;\n}\n"
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
