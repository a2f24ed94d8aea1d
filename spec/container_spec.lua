-- The container image (deploy/container/build.sh, Debian packages alone) runs the exporter
-- under docker as deploy/kubernetes/daemonset.yaml runs it (host PID namespace, the host's
-- BTF and tracefs), and a real Prometheus scrapes an exact count from it.
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
  metrics = {{table = "calls", name = "spec_container_getppid_calls_total", type = "counter",
              help = "getppid calls by process", labels = {"pid"}}},
}}}
]]

-- dockerd, started here when none runs (CI machines start no services), without a bridge
-- network: the container shares the host's network, as the DaemonSet's pods share its PIDs.
local started_dockerd
local function ensure_dockerd()
  if select(3, h.run("docker info")) == 0 then
    return
  end
  started_dockerd = h.run("dockerd --bridge=none --iptables=false > /tmp/bpflua-spec-dockerd.log 2>&1 & echo $!"):match("%d+")
  for _ = 1, 200 do
    if select(3, h.run("docker info")) == 0 then
      return
    end
    h.run("sleep 0.1")
  end
  error("dockerd did not start: " .. h.run("tail -5 /tmp/bpflua-spec-dockerd.log"))
end

describe("the container image", function()
  setup(function()
    assert(h.require_bpf())
    ensure_dockerd()
  end)

  teardown(function()
    if started_dockerd then
      h.run("kill " .. started_dockerd .. "; while kill -0 " .. started_dockerd .. " 2>/dev/null; do sleep 0.1; done")
    end
  end)

  it("builds from Debian packages and serves a workload's exact count to Prometheus", function()
    local out, err, status = h.run("deploy/container/build.sh bpflua:spec")
    assert.are.equal(0, status, out .. err)
    local dir = h.tmpdir()
    h.write_file(dir .. "/exporter.lua", CONFIG)
    local port = prometheus.free_port()
    local name = "bpflua-spec-" .. h.getpid()
    local run = "docker run -d --name " .. name .. " %s --pid=host --network host " ..
      "-v /sys/kernel/btf:/sys/kernel/btf:ro -v /sys/kernel/tracing:/sys/kernel/tracing " ..
      "-v " .. dir .. ":/etc/bpflua:ro bpflua:spec bpflua " ..
      "/usr/local/share/bpflua/scripts/exporter.lua --listen 127.0.0.1:" .. port .. " /etc/bpflua/exporter.lua"
    local _, run_err, run_status = h.run(string.format(run, "--privileged"))
    if run_status ~= 0 and run_err:find("unable to apply caps", 1, true) then
      -- This machine's capability bounding set lacks some (CAP_SYS_RESOURCE), which
      -- --privileged asks for: give the container every capability the host has instead.
      h.run("docker rm -f " .. name)
      _, run_err, run_status = h.run(string.format(run,
        "--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined --security-opt apparmor=unconfined"))
    end
    assert.are.equal(0, run_status, run_err)
    local served
    for _ = 1, 400 do
      served = h.run("curl -s -m 2 http://127.0.0.1:" .. port .. "/metrics")
      if served:find("# TYPE", 1, true) then
        break
      end
      h.run("sleep 0.05")
    end
    for _ = 1, 1000 do
      ffi.C.getppid()
    end
    local p = prometheus.start({"127.0.0.1:" .. port})
    local value = p:wait_value('spec_container_getppid_calls_total{pid="' .. h.getpid() .. '"}', "1000")
    local plog = p:log()
    p:stop()
    local logs = h.run("docker logs " .. name .. " 2>&1")
    h.run("docker rm -f " .. name .. "; rm -rf " .. dir)
    assert.truthy(served:find("# TYPE spec_container_getppid_calls_total counter", 1, true),
      "the container served:\n" .. served .. "\nits log:\n" .. logs)
    assert.are.equal("1000", value, "Prometheus log:\n" .. plog)
  end)
end)
