-- deploy/kubernetes/daemonset.yaml parses, and its pods run as the exporter needs: privileged,
-- in the host's PID namespace, with BTF, tracefs and bpffs mounted, announced to Prometheus;
-- and the config in its ConfigMap loads, compiles and serves in bpflua.
local lyaml = require("lyaml")
local h = require("spec.helpers")

local function read(path)
  local f = assert(io.open(path))
  local text = f:read("*a")
  f:close()
  return text
end

describe("the Kubernetes DaemonSet", function()
  local docs = lyaml.load(read("deploy/kubernetes/daemonset.yaml"), {all = true})
  local by_kind = {}
  for _, d in ipairs(docs) do
    by_kind[d.kind] = d
  end

  it("runs one privileged exporter per node in the host's PID namespace", function()
    local ds = assert(by_kind.DaemonSet)
    local pod = ds.spec.template.spec
    assert.is_true(pod.hostPID)
    local c = pod.containers[1]
    assert.is_true(c.securityContext.privileged)
    local mounts = {}
    for _, m in ipairs(c.volumeMounts) do
      mounts[m.mountPath] = m.name
    end
    for _, path in ipairs({"/sys/kernel/btf", "/sys/kernel/tracing", "/sys/fs/bpf", "/etc/bpflua"}) do
      assert.truthy(mounts[path], "no volume at " .. path)
    end
    local notes = ds.spec.template.metadata.annotations
    assert.are.equal("true", notes["prometheus.io/scrape"])
    assert.are.equal(tostring(c.ports[1].containerPort), notes["prometheus.io/port"])
    assert.are.same(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels)
  end)

  it("ships a config that compiles and serves its metrics", function()
    assert(h.require_bpf())
    local config = by_kind.ConfigMap.data["exporter.lua"]
    local exporter = require("bpflua.exporter")
    local path = os.tmpname()
    h.write_file(path, config)
    local reg, objects = exporter.load(exporter.read_config(path), path)
    os.remove(path)
    h.getpriority(1)
    local text = exporter.exposition(reg)
    assert.truthy(text:find('bpflua_syscalls_total{syscall="getpriority",comm="luajit"}', 1, true))
    for _, b in ipairs(objects) do
      b:cleanup()
    end
  end)
end)
