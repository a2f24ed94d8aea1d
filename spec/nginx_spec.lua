-- bpflua embedded in nginx (Debian's nginx Lua module) with deploy/nginx/nginx.conf: the
-- master loads the program, unprivileged workers serve /metrics to curl and to a real
-- Prometheus.
local ffi = require("ffi")
local h = require("spec.helpers")
local prometheus = require("spec.prometheus")

ffi.cdef[[ int getppid(void); ]]

local CONFIG = [[
return {programs = {{
  text = [==[
    BPF_HASH(calls, u32, u64, 1024);
    TRACEPOINT_PROBE(syscalls, sys_enter_getppid) {
      u32 pid = bpf_get_current_pid_tgid() >> 32;
      calls.atomic_increment(pid);
      return 0;
    }
  ]==],
  metrics = {{table = "calls", name = "spec_nginx_getppid_calls_total", type = "counter",
              help = "getppid calls by process", labels = {"pid"}}},
}}}
]]

local function read(path)
  local f = io.open(path)
  local text = f and f:read("*a") or ""
  if f then
    f:close()
  end
  return text
end

describe("bpflua in nginx", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("serves /metrics from unprivileged workers to curl and to Prometheus", function()
    local dir = h.tmpdir()
    local port = prometheus.free_port()
    local conf = read("deploy/nginx/nginx.conf")
      :gsub("listen 127%.0%.0%.1:%d+;", "listen 127.0.0.1:" .. port .. ";")
      :gsub("pid /run/bpflua%-nginx%.pid;", "pid " .. dir .. "/nginx.pid;")
      :gsub("error_log stderr notice;", "error_log " .. dir .. "/error.log notice;")
    assert.truthy(conf:find("user nobody nogroup;", 1, true))
    h.write_file(dir .. "/nginx.conf", conf)
    h.write_file(dir .. "/exporter.lua", CONFIG)
    os.execute("mkdir -p " .. dir .. "/logs && chmod 755 " .. dir)
    local pid = h.run(string.format("BPFLUA_EXPORTER_CONFIG=%s/exporter.lua nginx -p %s -c %s/nginx.conf " ..
      "-g 'daemon off;' > %s/stdout 2>&1 & echo $!", dir, dir, dir, dir)):match("%d+")
    local body
    for _ = 1, 200 do
      body = h.run("curl -s -m 2 http://127.0.0.1:" .. port .. "/metrics")
      if body:find("# TYPE", 1, true) then
        break
      end
      h.run("sleep 0.05")
    end
    for _ = 1, 1000 do
      ffi.C.getppid()
    end
    body = h.run("curl -s -m 2 http://127.0.0.1:" .. port .. "/metrics")
    local workers = h.run("ps -o user= --ppid " .. pid)
    local p = prometheus.start({"127.0.0.1:" .. port})
    local value = p:wait_value('spec_nginx_getppid_calls_total{pid="' .. h.getpid() .. '"}', "1000")
    local plog = p:log()
    p:stop()
    h.run("kill -QUIT " .. pid .. "; while kill -0 " .. pid .. " 2>/dev/null; do sleep 0.05; done")
    local errors = read(dir .. "/error.log") .. read(dir .. "/stdout")
    os.execute("rm -rf " .. dir)
    assert.truthy(body:find('spec_nginx_getppid_calls_total{pid="' .. h.getpid() .. '"} 1000', 1, true),
      "nginx served:\n" .. body .. "\nits log:\n" .. errors)
    assert.truthy(workers:match("nobody"), "workers run as: " .. workers)
    assert.falsy(workers:match("root"), "workers run as: " .. workers)
    assert.are.equal("1000", value, "Prometheus log:\n" .. plog)
  end)
end)
