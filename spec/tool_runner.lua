-- Runs a tool of scripts/ against a workload of the spec's own, for the tool specs that filter
-- on the workload's PID (-p) or need a filesystem of their own: the workload starts first and
-- waits on a FIFO, so its PID is known before the tool starts; it runs once the tool is
-- ready. In the 6.1 VM compiling is ~10x slower than natively, so the wait for the tool is
-- long (it ends early when the tool does).
local h = require("spec.helpers")

local M = {}

local in_vm = os.getenv("BPFLUA_VMTEST") ~= nil
-- A compile that builds the prelude's PCH takes minutes in TCG on a loaded machine: more than
-- bpflua's 60 s limit.
local compile_timeout = in_vm and "BPFLUA_COMPILE_TIMEOUT=${BPFLUA_COMPILE_TIMEOUT:-600} " or ""

-- Runs tool (a shell command line; $WPID is the workload's PID) until ready_pattern is in its
-- output, then the workload (shell commands; "exec dd ..." keeps the workload's PID), then,
-- once the workload has ended and the tool has had time to print, Ctrl-C unless the tool has
-- ended by itself. Returns the tool's output, its exit status and the workload's PID.
function M.run(tool, ready_pattern, workload)
  local base = os.tmpname()
  local out, pidfile, fifo = base .. ".out", base .. ".pid", base .. ".fifo"
  local script = string.format([[
    mkfifo %s
    sh -c 'echo $$ > %s; read _ < %s; %s' & wpid=$!
    while [ ! -s %s ]; do sleep 0.02; done
    WPID=$(cat %s)
    %s%s > %s 2>&1 & tpid=$!
    for i in $(seq 1 %d); do
      grep -q %q %s && break
      kill -0 $tpid 2>/dev/null || break
      sleep 0.05
    done
    echo go > %s
    wait $wpid
    sleep %s
    kill -INT $tpid 2>/dev/null; wait $tpid; echo "status=$?"
  ]], fifo, pidfile, fifo, workload:gsub("'", [['\'']]), pidfile, pidfile, compile_timeout, tool, out,
    in_vm and 12000 or 2400, ready_pattern, out, fifo, in_vm and "2" or "0.8")
  local result = h.run(script)
  local f = io.open(out)
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  local pid_f = io.open(pidfile)
  local pid = pid_f and tonumber(pid_f:read("*l"))
  if pid_f then
    pid_f:close()
  end
  os.remove(base)
  os.remove(out)
  os.remove(pidfile)
  os.remove(fifo)
  return text, tonumber(result:match("status=(%d+)")), pid
end

-- An ext4 filesystem of its own, in a loop-mounted image file (the 6.1 VM has no disk; its
-- root and /tmp are an overlay on tmpfs): returns the mount point and a function that
-- unmounts and removes it.
function M.ext4_mount(tag)
  local image = os.tmpname()
  local dir = image .. "-" .. tag
  local _, err, status = h.run(string.format(
    "truncate -s 64M %s && mkfs.ext4 -q -F %s && mkdir -p %s && mount -o loop %s %s",
    image, image, dir, image, dir))
  assert(status == 0, "cannot mount an ext4 image: " .. err)
  return dir, function()
    h.run(string.format("umount %s; rmdir %s; rm -f %s", dir, dir, image))
  end
end

-- The escaped form of s for a Lua pattern.
function M.escape(s)
  return (s:gsub("[%-%.%+%[%]%(%)%$%^%%%?%*]", "%%%0"))
end

M.in_vm = in_vm

-- The sum of column n (1-based, blank-separated) over the lines of text that match pattern.
function M.column_sum(text, pattern, n)
  local sum = 0
  for line in text:gmatch("[^\n]+") do
    if line:find(pattern) then
      local fields = {}
      for f in line:gmatch("%S+") do
        fields[#fields + 1] = f
      end
      sum = sum + (tonumber(fields[n]) or 0)
    end
  end
  return sum
end

return M
