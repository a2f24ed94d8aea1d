-- attach_uprobe{addr = ...} takes an address in the binary, as bcc does (and as `nm` and
-- `readelf -s` print them), and puts the uprobe at the file offset its loadable segment
-- maps there. In a non-PIE executable the two differ: the spec builds one and probes a
-- function of it by its address.
local BPF = require("bpflua")
local h = require("spec.helpers")

local PROGRAM = [[
#include <stdlib.h>
__attribute__((noinline)) int bpflua_spot(int x) { return x + 1; }
int main(int argc, char **argv) { return bpflua_spot(atoi(argv[1])) > 0 ? 0 : 1; }
]]

local PROBE = [[
BPF_ARRAY(hits, u64, 1);
int on_spot(struct pt_regs *ctx, int x) {
  if (x == WHO) { int k = 0; u64 *n = hits.lookup(&k); if (n) __sync_fetch_and_add(n, 1); }
  return 0;
}
]]

-- The address nm gives a symbol of path.
local function address_of(path, name, dynamic)
  local out = h.run("nm " .. (dynamic and "-D " or "") .. path)
  local addr = out:match("(%x+) [TtWi] " .. name .. "[@\n]")
  assert(addr, name .. " not in nm's output for " .. path)
  return tonumber(addr, 16)
end

describe("attach_uprobe{addr}", function()
  local dir, exe
  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
    exe = dir .. "/spot"
    h.write_file(dir .. "/spot.c", PROGRAM)
    local _, err, status = h.run("cc -O1 -no-pie -o " .. exe .. " " .. dir .. "/spot.c")
    assert(status == 0, err)
  end)

  teardown(function()
    if dir then
      os.execute("rm -rf " .. dir)
    end
  end)

  it("is the address in a non-PIE executable, as bcc takes it", function()
    local addr = address_of(exe, "bpflua_spot")
    -- Non-PIE: the address is far from the file offset (the old meaning of addr).
    assert.is_true(addr >= 0x400000, string.format("0x%x", addr))
    local who = 30000 + math.random(1000)
    local b = BPF{text = PROBE, cflags = {"-DWHO=" .. who}}
    b:attach_uprobe{name = exe, addr = addr, fn_name = "on_spot"}
    local _, err, status = h.run(exe .. " " .. who)
    assert.are.equal(0, status, err)
    assert.are.equal(1, tonumber(b["hits"]:get(0)))
    b:cleanup()
  end)

  it("is the address in a shared library", function()
    local who = 31000 + math.random(1000)
    local b = BPF{text = [[
      BPF_ARRAY(hits, u64, 1);
      int on_getpriority(struct pt_regs *ctx, int which, int who) {
        if (who == WHO) { int k = 0; u64 *n = hits.lookup(&k); if (n) __sync_fetch_and_add(n, 1); }
        return 0;
      }
    ]], cflags = {"-DWHO=" .. who}}
    local addr = address_of(BPF.find_library("c"), "getpriority", true)
    b:attach_uprobe{name = "c", addr = addr, fn_name = "on_getpriority", pid = h.getpid()}
    h.getpriority(who)
    assert.are.equal(1, tonumber(b["hits"]:get(0)))
    b:cleanup()
  end)

  it("outside every loadable segment is a clear error that leaves nothing behind", function()
    local b = BPF{text = PROBE, cflags = {"-DWHO=1"}}
    local before = h.kernel_objects()
    local ok, err = pcall(b.attach_uprobe, b, {name = exe, addr = 0x10, fn_name = "on_spot"})
    assert.is_false(ok)
    assert.matches("attach_uprobe: address 0x10 is in no loadable segment of " .. exe:gsub("%p", "%%%0"), err)
    h.assert_kernel_objects(before)
    b:cleanup()
  end)
end)
