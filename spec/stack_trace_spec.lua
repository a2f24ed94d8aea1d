-- Stack traces and symbols: BPF_STACK_TRACE and get_stackid in C, walk() in Lua, kernel
-- addresses named by BPF.ksym / BPF.ksymname and user addresses by b:sym through libelf.
local BPF = require("bpflua")
local h = require("spec.helpers")

local probe = h.probe

-- A probe on this process's getpriority() that records its kernel and user stack ids in
-- ids[0] and ids[1].
local function stack_probe(flags)
  return probe([[
    BPF_STACK_TRACE(stacks, 128);
    BPF_ARRAY(ids, int, 2);
  ]], [[
    int k = 0, u = 1;
    int kernel_id = stacks.get_stackid(args, ]] .. (flags or "0") .. [[);
    int user_id = stacks.get_stackid(args, BPF_F_USER_STACK);
    ids.update(&k, &kernel_id);
    ids.update(&u, &user_id);
  ]])
end

local function frames(b, id, name)
  local list = {}
  for addr in b["stacks"]:walk(id) do
    list[#list + 1] = name(addr)
  end
  return list
end

describe("stack traces", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("walk a kernel stack whose frames ksym names down to the syscall entry", function()
    local b = stack_probe()
    h.getpriority(1)
    local id = b["ids"]:get(0)
    assert.is_true(id >= 0, "get_stackid failed: " .. id)
    local names = frames(b, id, BPF.ksym)
    local text = table.concat(names, "\n")
    assert.matches("do_syscall_64", text, 1, true)
    assert.matches("entry_SYSCALL_64", text, 1, true)
    -- Innermost first: the tracepoint's own machinery before the syscall entry.
    assert.are.equal("entry_SYSCALL_64_after_hwframe", names[#names])
    for addr in b["stacks"]:walk(id) do -- luacheck: ignore 512 (the innermost frame only)
      assert.are.equal("cdata", type(addr))
      assert.matches("^[%w_.]+%+0x%x+ %[kernel%]$", BPF.ksym(addr, true, true))
      break
    end
    b:cleanup()
  end)

  it("walk a user stack that b:sym resolves through the ELF symbols of libc", function()
    local b = stack_probe()
    h.getpriority(1)
    local id = b["ids"]:get(1)
    assert.is_true(id >= 0, "get_stackid failed: " .. id)
    local pid = h.getpid()
    local first
    for addr in b["stacks"]:walk(id) do -- luacheck: ignore 512 (the innermost frame only)
      first = addr
      break
    end
    -- The innermost user frame is libc's getpriority wrapper, at the syscall instruction.
    assert.are.equal("getpriority", b:sym(first, pid))
    assert.matches("^getpriority%+0x%x+ %[libc%.so[%.%d]*%]$", b:sym(first, pid, true, true))
    assert.are.equal("getpriority", BPF.sym(first, pid))
    assert.are.equal("[unknown]", b:sym(16, pid))
    b:cleanup()
  end)

  it("share ids between identical stacks and give negative ids nothing to walk", function()
    local b = stack_probe("BPF_F_REUSE_STACKID")
    h.getpriority(1)
    local first = b["ids"]:get(0)
    h.getpriority(1)
    assert.are.equal(first, b["ids"]:get(0))
    assert.is_true(b["stacks"]:len() >= 1)
    local walked = 0
    for _ in b["stacks"]:walk(-14) do
      walked = walked + 1
    end
    for _ in b["stacks"]:walk(127) do
      walked = walked + 1
    end
    assert.are.equal(0, walked)
    -- get() gives the stack as its array of addresses, zero after the innermost frames.
    local frames_of_first = b["stacks"]:get(first)
    local n = 0
    for addr in b["stacks"]:walk(first) do
      assert.are.equal(addr, frames_of_first[n])
      n = n + 1
    end
    assert.are.equal(0ULL, frames_of_first[n])
    -- stacks[id] reads as get(id), as bcc's b["stacks"][id]; an id it does not hold is nil.
    assert.are.equal(frames_of_first[0], b["stacks"][first][0])
    assert.is_nil(b["stacks"][127])
    b["stacks"][first] = nil
    assert.is_nil(b["stacks"]:get(first))
    b["stacks"]:clear()
    assert.are.equal(0, b["stacks"]:len())
    assert.matches("stack_trace table 'stacks'", tostring(b["stacks"]), 1, true)
    b:cleanup()
  end)

  it("find kernel symbols by name and name addresses outside any as unknown", function()
    local addr = BPF.ksymname("do_syscall_64")
    assert.are.equal("cdata", type(addr))
    assert.are.equal("do_syscall_64", BPF.ksym(addr))
    assert.are.equal("do_syscall_64+0x10", BPF.ksym(addr + 16, false, true))
    assert.are.equal(-1, BPF.ksymname("no_such_kernel_symbol_anywhere"))
    assert.are.equal("[unknown]", BPF.ksym(16))
    -- A negative pid means a kernel address, as in bcc.
    assert.are.equal("do_syscall_64", BPF.sym(addr, -1))
  end)
end)
