-- bcc's kprobe tools through scripts/bcc_compat/run.lua, on a kernel with kprobes. The
-- development kernel has none (there spec/bcc_compat_spec.lua checks tools on tracepoints),
-- so this runs in Debian's 6.1 kernel under scripts/vmtest.sh; tagged #vm so that the native
-- run leaves it out. The runner checks each tool in a process of its own.
local h = require("spec.helpers")
local compat = require("spec.bcc_compat_runner")

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
    if not compat.installed() then
      pending("bpfcc-tools is not installed")
      return
    end
    local output = compat.run("cachestat,vfsstat,funccount")
    assert.are.same({cachestat = "3/3", vfsstat = "5/5", funccount = "1/1"}, compat.attached(output), output)
    assert.truthy(output:match("summary: 3 tools, 3 generated, 3 compile, 3 load, 3 attach"), output)
  end)

  it("give the filesystem and disk tools their targets: btrfsdist, xfsdist, biolatpcts", function()
    if not compat.installed() then
      pending("bpfcc-tools is not installed")
      return
    end
    -- The VM has neither btrfs nor xfs loaded, nor a disk: the runner loads the modules
    -- vmtest.sh keeps aside and puts a loop device over an image.
    local output, cache = compat.run("btrfsdist,xfsdist,biolatpcts")
    assert.are.same({btrfsdist = "8/8", xfsdist = "8/8", biolatpcts = "1/1"}, compat.attached(output), output)
    -- The loop device is given back.
    local losetup = io.popen("losetup -a"):read("*a")
    assert.is_nil(losetup:find(cache, 1, true), losetup)
  end)
end)
