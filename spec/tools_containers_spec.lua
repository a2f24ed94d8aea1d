-- bcc's --cgroupmap and --mntnsmap in opensnoop, execsnoop, mountsnoop, profile and
-- tcpconnect: the tools trace only the tasks whose cgroup v2 id (or mount namespace inode)
-- is a key of a hash map the user pinned in bpffs. This spec pins the maps as a user would
-- (BPF_TABLE_PINNED here; bpftool map create elsewhere), puts one workload in a cgroup of its
-- own (or runs one in a mount namespace of its own with unshare -m) and another outside, and
-- checks that only the one inside the map's set shows up.
local h = require("spec.helpers")

local function cgroup2_root()
  for line in io.lines("/proc/mounts") do
    local dir, fstype = line:match("^%S+ (%S+) (%S+)")
    if fstype == "cgroup2" then
      return dir
    end
  end
end

local function read_first_line(command)
  return (h.run(command):match("^[^\n]*"))
end

describe("tools' --cgroupmap and --mntnsmap", function()
  local BPF, pins, cgroup, tag, maps
  setup(function()
    assert(h.require_bpf())
    BPF = require("bpflua")
    tag = "bpflua-containers-" .. h.unique()
    local root = assert(cgroup2_root(), "a cgroup v2 hierarchy is mounted")
    cgroup = root .. "/" .. tag
    assert(os.execute("mkdir -p " .. cgroup) == 0 or true)
    pins = {cgroups = "/sys/fs/bpf/" .. tag .. "-cgroups", mntns = "/sys/fs/bpf/" .. tag .. "-mntns"}
    maps = BPF{text = string.format([[
      BPF_TABLE_PINNED("hash", u64, u64, cgroupset, 1024, "%s");
      BPF_TABLE_PINNED("hash", u64, u32, mount_ns_set, 1024, "%s");
    ]], pins.cgroups, pins.mntns)}
    -- a cgroup v2 id is its directory's inode number; a mount namespace's id its inode
    maps.cgroupset:set(tonumber(read_first_line("stat -c %i " .. cgroup)), 1)
    local mntns = read_first_line("readlink /proc/self/ns/mnt"):match("%[(%d+)%]")
    maps.mount_ns_set:set(tonumber(mntns), 1)
  end)
  teardown(function()
    if maps then
      maps:cleanup()
    end
    os.remove(pins.cgroups)
    os.remove(pins.mntns)
    h.run("rmdir " .. cgroup)
  end)

  -- A shell command running command inside the spec's cgroup.
  local function in_cgroup(command)
    return string.format("sh -c 'echo $$ > %s/cgroup.procs; exec %s'", cgroup, command)
  end

  it("opensnoop --cgroupmap: opens from the map's cgroups only", function()
    local marker = "/tmp/" .. tag
    local text, status = h.run_script("bpflua scripts/opensnoop.lua -n cat --cgroupmap " .. pins.cgroups,
      "PATH", in_cgroup("cat " .. marker .. "-inside") .. " 2>/dev/null; cat " .. marker .. "-outside 2>/dev/null")
    assert.are.equal(130, status, text)
    assert.matches("cat +%-1   2 " .. marker:gsub("%-", "%%-") .. "%-inside\n", text)
    assert.not_matches("-outside", text, 1, true)
  end)

  it("opensnoop --mntnsmap: opens from the map's mount namespaces only", function()
    local marker = "/tmp/" .. tag
    local text, status = h.run_script("bpflua scripts/opensnoop.lua -n cat --mntnsmap " .. pins.mntns,
      "PATH", "unshare -m cat " .. marker .. "-unshared 2>/dev/null; cat " .. marker .. "-host 2>/dev/null")
    assert.are.equal(130, status, text)
    assert.matches(marker .. "-host", text, 1, true)
    assert.not_matches("-unshared", text, 1, true)
  end)

  it("execsnoop --cgroupmap and --mntnsmap", function()
    local text, status = h.run_script("bpflua scripts/execsnoop.lua --cgroupmap " .. pins.cgroups,
      "ARGS", in_cgroup("/bin/echo " .. tag .. "-inside") .. " > /dev/null; /bin/echo " .. tag .. "-outside > /dev/null")
    assert.are.equal(130, status, text)
    assert.matches("echo +%d+ +%d+ +0 /bin/echo " .. tag:gsub("%-", "%%-") .. "%-inside\n", text)
    assert.not_matches("-outside", text, 1, true)
    local ns = h.run_script("bpflua scripts/execsnoop.lua --mntnsmap " .. pins.mntns, "ARGS",
      "unshare -m /bin/echo " .. tag .. "-unshared > /dev/null; /bin/echo " .. tag .. "-host > /dev/null")
    assert.matches("\necho +%d+ +%d+ +0 /bin/echo " .. tag:gsub("%-", "%%-") .. "%-host\n", ns)
    -- unshare itself starts in the host's namespace; the echo it runs does not
    assert.not_matches("\necho [^\n]*%-unshared", ns)
  end)

  it("mountsnoop --mntnsmap: mounts in the map's mount namespaces only", function()
    local dir = "/tmp/" .. tag .. "-mnt"
    local text, status = h.run_script("bpflua scripts/mountsnoop.lua --mntnsmap " .. pins.mntns, "CALL",
      string.format("mkdir -p %s; unshare -m mount -t tmpfs %s-unshared %s; " ..
        "mount -t tmpfs %s-host %s && umount %s; rmdir %s", dir, tag, dir, tag, dir, dir, dir))
    assert.are.equal(130, status, text)
    assert.matches('mount%("' .. tag:gsub("%-", "%%-") .. '%-host"', text)
    assert.not_matches("-unshared", text, 1, true)
  end)

  it("tcpconnect --cgroupmap: connects from the map's cgroups only", function()
    -- connects to closed local ports: refused, but connects all the same
    local text, status = h.run_script("bpflua scripts/tcpconnect.lua --cgroupmap " .. pins.cgroups,
      "DPORT", in_cgroup("bash -c \"echo > /dev/tcp/127.0.0.1/1\"") .. " 2>/dev/null; " ..
      "bash -c 'echo > /dev/tcp/127.0.0.1/2' 2>/dev/null")
    assert.are.equal(130, status, text)
    assert.matches("bash +4  127%.0%.0%.1 +127%.0%.0%.1 +1 *\n", text)
    assert.not_matches("127%.0%.0%.1 +2 *\n", text)
  end)

  it("profile --cgroupmap: samples of the map's cgroups only", function()
    local text, status = h.run_script("bpflua scripts/profile.lua -F 199 --cgroupmap " .. pins.cgroups,
      "Hit Ctrl-C", in_cgroup("timeout 1 yes") .. " > /dev/null & yp=$!; " ..
      "timeout 1 dd if=/dev/zero of=/dev/null 2>/dev/null; wait $yp")
    assert.are.equal(130, status, text)
    assert.matches("\n    %-                yes %(%d+%)\n", text)
    assert.not_matches(" dd %(", text)
  end)

  it("a path with no map pinned there is an error, before tracing", function()
    local _, err, status = h.run("bpflua scripts/opensnoop.lua --cgroupmap /sys/fs/bpf/" .. tag .. "-none")
    assert.are.equal(2, status)
    assert.matches("opensnoop.lua: error: --cgroupmap: no BPF map pinned at /sys/fs/bpf/" .. tag .. "-none", err,
      1, true)
  end)
end)
