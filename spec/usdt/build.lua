-- Builds spec/usdt/probes.c and its libprobes.so (needs gcc and systemtap-sdt-dev's
-- <sys/sdt.h>) into a temporary directory once per run; returns the directory.
local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$")
local dir

return function()
  if dir then
    return dir
  end
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d) == 0)
  local cmd = string.format(
    "gcc -O2 -fPIC -shared -o %s/libprobes.so %s/libprobes.c && " ..
    "gcc -O2 -fPIE -pie -o %s/probes %s/probes.c -L%s -lprobes -Wl,-rpath,%s 2>&1",
    d, here, d, here, d, d)
  local p = io.popen(cmd)
  local said = p:read("*a")
  local ok = p:close()
  if not ok or not io.open(d .. "/probes") then
    error("cannot build spec/usdt/probes.c (needs gcc and systemtap-sdt-dev):\n" .. said)
  end
  dir = d
  return d
end
