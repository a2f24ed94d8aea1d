-- Builds the USDT specs' workloads into a temporary directory once per run: spec/usdt/probes.c
-- and its libprobes.so (gcc and systemtap-sdt-dev's <sys/sdt.h>), and Work.java (javac).
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
local dir
local built = {}

local function workdir()
  if not dir then
    dir = os.tmpname()
    os.remove(dir)
    os.execute("mkdir -p " .. dir)
  end
  return dir
end

local function run(what, cmd, product)
  local p = io.popen(cmd .. " 2>&1")
  local said = p:read("*a")
  p:close()
  if not io.open(product) then
    error("cannot build " .. what .. ":\n" .. said)
  end
end

local M = {}

-- The directory holding probes and libprobes.so.
function M.probes()
  local d = workdir()
  if not built.probes then
    run("spec/usdt/probes.c (needs gcc and systemtap-sdt-dev)", string.format(
      "gcc -O2 -fPIC -shared -o %s/libprobes.so %s/libprobes.c && " ..
      "gcc -O2 -fPIE -pie -o %s/probes %s/probes.c -L%s -lprobes -Wl,-rpath,%s",
      d, here, d, here, d, d), d .. "/probes")
    built.probes = true
  end
  return d
end

-- The class path holding Work.class.
function M.java()
  local d = workdir()
  if not built.java then
    run("spec/usdt/Work.java (needs a JDK: default-jdk-headless)",
      string.format("javac -d %s %s/Work.java", d, here), d .. "/Work.class")
    built.java = true
  end
  return d
end

return setmetatable(M, {__call = function() return M.probes() end})
