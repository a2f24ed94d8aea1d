-- Kernel symbols in modules: BPF.ksym gives a module's function its module, as bcc does
-- ("ovl_lookup [overlay]"). The development kernel has no modules loaded; Debian's 6.1 kernel in
-- scripts/vmtest.sh has virtio, 9p and overlay, so this runs there (#vm).
local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

-- A kernel address from kallsyms' hex, exactly (a Lua number cannot hold it).
local function address(hex)
  return ffi.cast("uint64_t", tonumber(hex:sub(1, 8), 16)) * 2 ^ 32 + tonumber(hex:sub(9), 16)
end

-- The text symbols of loaded modules in /proc/kallsyms: {addr =, name =, module =}, and how
-- many times each name appears (BPF programs' [bpf] and ftrace's trampolines left out: they
-- come and go).
local function module_functions()
  local list, seen = {}, {}
  for line in io.lines("/proc/kallsyms") do
    local hex, kind, name, module = line:match("^(%x+) (%a) (%S+)%s*%[?([%w_]*)%]?$")
    if hex then
      seen[name] = (seen[name] or 0) + 1
      if (kind == "t" or kind == "T") and module ~= "" and module ~= "bpf" and
          not module:find("^__builtin") and #hex == 16 then
        list[#list + 1] = {addr = address(hex), name = name, module = module}
      end
    end
  end
  return list, seen
end

describe("kernel module symbols #kernel #vm", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("name a module's functions with the module, the kernel's own with [kernel]", function()
    local functions, seen = module_functions()
    assert(#functions > 0, "no module is loaded (the VM loads virtio, 9p and overlay)")
    local checked, per_module, modules = 0, {}, {}
    for _, f in ipairs(functions) do
      modules[f.module] = true
      per_module[f.module] = (per_module[f.module] or 0) + 1
      -- a few unique names per module (aliases at one address name either)
      if per_module[f.module] <= 5 and seen[f.name] == 1 and BPF.ksym(f.addr) == f.name then
        assert.are.equal(f.name .. " [" .. f.module .. "]", BPF.ksym(f.addr, true))
        assert.are.equal(f.name .. "+0x1 [" .. f.module .. "]", BPF.ksym(f.addr + 1, true, true))
        assert.are.equal(f.addr, BPF.ksymname(f.name))
        checked = checked + 1
      end
    end
    assert.is_true(checked > 0, "no module function to check")
    assert.is_truthy(modules.overlay, "overlay is not among the modules")
    assert.are.equal("do_syscall_64 [kernel]", BPF.ksym(BPF.ksymname("do_syscall_64"), true))
  end)
end)
