-- bcc's kprobe tools through scripts/bcc_compat/run.lua, on a kernel with kprobes. The
-- development kernel has none (there spec/bcc_compat_spec.lua checks tools on tracepoints),
-- so this runs in Debian's 6.1 kernel under scripts/vmtest.sh; tagged #vm so that the native
-- run leaves it out. The runner checks each tool in a process of its own.
local h = require("spec.helpers")

-- Until scripts/test.sh leaves #vm specs out of the native run (branch vm), this file has no
-- test on a kernel without kprobes, as that run would leave it out.
local has_kprobes = io.open("/sys/kernel/tracing/kprobe_events") ~= nil or
  io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

describe("bcc's kprobe tools #kernel #vm", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local it = has_kprobes and it or function() end

  it("compile, load and attach every probe: cachestat (kprobe__ names), vfsstat, funccount", function()
    if not io.open("/usr/sbin/cachestat-bpfcc") then
      assert.is_not.equal("true", os.getenv("CI"), "bpfcc-tools is not installed (scripts/setup.sh installs it)")
      pending("bpfcc-tools is not installed")
      return
    end
    local cache = os.tmpname()
    os.remove(cache)
    local p = io.popen("bpflua scripts/bcc_compat/run.lua -t cachestat,vfsstat,funccount --cache " ..
      cache .. " 2>&1")
    local output = p:read("*a")
    p:close()
    os.execute("rm -rf " .. cache)
    local attached = {}
    for tool, points in output:gmatch("\n(%S+)%s+yes%s+yes%s+yes %d+/%d+%s+yes (%d+/%d+)") do
      attached[tool] = points
    end
    assert.are.same({cachestat = "3/3", vfsstat = "5/5", funccount = "1/1"}, attached, output)
    assert.truthy(output:match("summary: 3 tools, 3 generated, 3 compile, 3 load, 3 attach"), output)
  end)

  it("give the filesystem and disk tools their targets: btrfsdist, xfsdist, biolatpcts", function()
    if not io.open("/usr/sbin/btrfsdist-bpfcc") then
      assert.is_not.equal("true", os.getenv("CI"), "bpfcc-tools is not installed (scripts/setup.sh installs it)")
      pending("bpfcc-tools is not installed")
      return
    end
    local cache = os.tmpname()
    os.remove(cache)
    -- The VM has neither btrfs nor xfs loaded, nor a disk: the runner loads the modules
    -- vmtest.sh keeps aside and puts a loop device over an image.
    local p = io.popen("bpflua scripts/bcc_compat/run.lua -t btrfsdist,xfsdist,biolatpcts --cache " ..
      cache .. " 2>&1")
    local output = p:read("*a")
    p:close()
    os.execute("rm -rf " .. cache)
    local attached = {}
    for tool, points in output:gmatch("\n(%S+)%s+yes%s+yes%s+yes %d+/%d+%s+yes (%d+/%d+)") do
      attached[tool] = points
    end
    assert.are.same({btrfsdist = "8/8", xfsdist = "8/8", biolatpcts = "1/1"}, attached, output)
    -- The loop device is given back.
    local losetup = io.popen("losetup -a"):read("*a")
    assert.is_nil(losetup:find(cache, 1, true), losetup)
  end)
end)
