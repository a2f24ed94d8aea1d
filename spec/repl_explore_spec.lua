-- The REPL's exploration: completion of the public API and of names inside strings, and
-- watch(), in a real terminal (tmux); struct(), ksyms(), usyms(), usdt() and fields() through
-- bpflua -e, where the REPL's globals are at hand too.
local h = require("spec.helpers")
local Terminal = require("spec.terminal")

local start_repl = Terminal.start_repl

local function stop(term)
  if term then
    term:stop()
  end
end

-- Runs bpflua -e code; returns stdout, stderr and status.
local function e(code)
  return h.run("bpflua -e " .. string.format("%q", code):gsub("%$", "\\$"))
end

describe("REPL completion", function()
  local term
  setup(function()
    assert(h.require_bpf())
    term = start_repl()
    term:send("b = BPF{text = 'BPF_HASH(counts, u32, u64); BPF_HISTOGRAM(dist); // " .. h.unique() .. "'}")
    term:send("'loaded'")
    term:expect("^loaded$", 60)
  end)
  teardown(function()
    stop(term)
  end)

  -- The candidates Tab lists for what is typed (two Tabs list them when there are several).
  local function listed(typed, expected)
    term:type(typed)
    term:press("Tab", "Tab")
    local line = term:expect(expected)
    local screen = term:screen()
    term:press("C-u")
    return line, screen
  end

  it("offers a table's public methods, not bpflua's internals", function()
    local _, screen = listed("b['counts']:", "items_lookup_and_delete_batch")
    local listing = screen:sub((select(2, screen:find("b%['counts'%]:"))))
    for _, private in ipairs{"_check_open", "_key_of", "__tostring", "new"} do
      assert.is_nil(listing:find("%f[%w_]" .. private:gsub("_", "%%_") .. "%f[^%w_]"), private .. " offered:\n" .. listing)
    end
    assert.matches("print_log2_hist", listing, 1, true)
  end)

  it("offers the BPF class's API without its constructor and helpers", function()
    term:type("BPF.is_")
    term:press("Tab")
    term:expect_input("^> BPF%.is_$") -- is_object is internal: nothing to complete
    term:press("C-u")
    term:type("BPF.ne")
    term:press("Tab")
    term:expect_input("^> BPF%.ne$")
    term:press("C-u")
    term:type("ffi.ne") -- other modules keep theirs
    term:press("Tab")
    term:expect_input("^> ffi%.new$")
    term:press("C-u")
  end)

  it("completes tracepoint names inside strings", function()
    term:type('tracepoints("sched:sched_swi')
    term:press("Tab")
    term:expect_input('^> tracepoints%("sched:sched_switch"$')
    term:press("C-u")
    term:type('fields("sched:sched_swi')
    term:press("Tab")
    term:expect_input('^> fields%("sched:sched_switch"$')
    term:press("C-u")
    term:type("b:attach_tracepoint('syscal")
    term:press("Tab")
    term:expect_input("^> b:attach_tracepoint%('syscalls:$")
    term:type("sys_enter_getprior")
    term:press("Tab")
    term:expect_input("^> b:attach_tracepoint%('syscalls:sys_enter_getpriority'$")
    term:press("C-u")
    term:type('b:attach_tracepoint{tp = "sched:sched_process_fo')
    term:press("Tab")
    term:expect_input('^> b:attach_tracepoint{tp = "sched:sched_process_fork"$')
    term:press("C-u")
    -- a string that names nothing completes nothing
    term:type('print("sched:sched_swi')
    term:press("Tab")
    term:expect_input('^> print%("sched:sched_swi$')
    term:press("C-u")
  end)

  it("completes table names in subscripts and get_table, and struct names", function()
    term:type('b["cou')
    term:press("Tab")
    term:expect_input('^> b%["counts"%]$')
    term:press("C-u")
    term:type("b:get_table('di")
    term:press("Tab")
    term:expect_input("^> b:get_table%('dist'$")
    term:press("C-u")
    term:type('struct("task_stru')
    term:press("Tab")
    term:expect_input('^> struct%("task_struct')
    term:press("C-u")
  end)
end)

describe("errors in the REPL", function()
  local term
  setup(function()
    assert(h.require_bpf())
    term = start_repl()
  end)
  teardown(function()
    stop(term)
  end)

  it("point into the input for C errors in text typed at the prompt", function()
    term:send("x = BPF{text = [[")
    term:send("// " .. h.unique())
    term:send("int x = nope;]]}")
    term:expect("^stdin:3:9: error: use of undeclared identifier 'nope'$", 30)
    term:expect("^%s+3 | int x = nope;$")
    term:send("'still here'")
    term:expect("^still here$")
  end)
end)

describe("watch in the REPL", function()
  local term
  local magic
  setup(function()
    assert(h.require_bpf())
    term = start_repl()
    -- Counts this spec's getpriority(0, who) calls: who in [magic, magic + 8) is the key.
    magic = 700000 + (h.getpid() % 1000) * 64
    term:send(string.format("b = BPF{text = [[BPF_HASH(counts, u32, u64); BPF_HISTOGRAM(dist); " ..
      "TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) { u32 who = args->who; " ..
      "if (who < %d || who >= %d) return 0; counts.increment(who); " ..
      "dist.increment(bpf_log2l(who - %d + 1)); return 0; }]]}", magic, magic + 8, magic))
    term:send("'loaded'")
    term:expect("^loaded$", 60)
  end)
  teardown(function()
    stop(term)
  end)

  it("redraws a hash's top entries until Ctrl-C, then returns to the prompt", function()
    term:send("watch(b['counts'], 0.2)")
    term.seen = 0
    term:expect("Ctrl%-C stops")
    for _ = 1, 3 do
      h.getpriority(magic + 2)
    end
    h.getpriority(magic + 5)
    -- drawn again with the new counts: the screen is cleared, so look from its top
    term.seen = 0
    term:expect("^" .. (magic + 2) .. "%s+3$")
    term.seen = 0
    term:expect("^" .. (magic + 5) .. "%s+1$")
    for _ = 1, 4 do
      h.getpriority(magic + 5)
    end
    term.seen = 0
    term:expect("^" .. (magic + 5) .. "%s+5$")
    -- in a drawing with the new counts, the larger count comes first
    local order
    for _, line in ipairs(term:lines()) do
      if line:find("^KEY%s+VALUE$") then
        order = {}
      elseif order and line:find("^" .. (magic + 5) .. "%s+5$") then
        order[#order + 1] = "five"
      elseif order and line:find("^" .. (magic + 2) .. "%s+3$") then
        order[#order + 1] = "three"
        if order[1] == "five" then
          break
        end
      end
    end
    assert.are.same({"five", "three"}, order, term:screen())
    term:press("C-c")
    term.seen = 0
    term:send("'back at the prompt'")
    term:expect("^back at the prompt$")
    assert.is_nil(term:screen():find("interrupted", 1, true), term:screen())
    assert.is_nil(term:screen():find("exited", 1, true), term:screen())
  end)

  it("redraws a histogram with bcc's bars", function()
    term:send("watch(b['dist'], 0.2)")
    term.seen = 0
    term:expect("Ctrl%-C stops")
    for _ = 1, 6 do
      h.getpriority(magic + 7) -- bpf_log2l(8) = 4: the bucket 8 -> 15
    end
    term.seen = 0
    term:expect("^%s+value%s+: count%s+distribution$")
    term:expect("^%s+8 %-> 15%s+: 6%s+|%*+%s*|$")
    term:press("C-c")
    term.seen = 0
    term:send("'back again'")
    term:expect("^back again$")
  end)
end)

describe("exploration commands from -e and scripts", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("watch stops after count drawings where no one presses Ctrl-C", function()
    local out, err, status = e("local b = BPF{text = 'BPF_HASH(c, u32, u64);'}; " ..
      "b['c']:set(7, 3); b['c']:set(9, 11); watch(b['c'], 0.05, 2)")
    assert.are.equal(0, status, err)
    local _, drawings = out:gsub("KEY%s+VALUE", "")
    assert.are.equal(2, drawings, out)
    assert.matches("\n9%s+11\n7%s+3\n", out)
    local _, bad, bad_status = e("watch(42)")
    assert.are.equal(1, bad_status)
    assert.matches("watch: expected a BPF table", bad, 1, true)
  end)

  it("struct() prints a kernel struct's fields with offsets and sizes from BTF", function()
    local out, err, status = e("struct('task_struct')")
    assert.are.equal(0, status, err)
    assert.matches("^struct task_struct {%s+/%* size %d+ %*/\n", out)
    -- the offsets are the kernel's: BPF's CO-RE reads them the same way
    local pid_offset = tonumber(out:match("\n%s+pid_t pid;%s+/%*%s+(%d+)%s+4 %*/\n"))
    assert.is_number(pid_offset, out)
    local b_out = e("local b = BPF{text = [[BPF_ARRAY(o, u64, 1); TRACEPOINT_PROBE(syscalls, sys_enter_getppid) " ..
      "{ u32 k = 0; u64 v = bpf_core_field_offset(struct task_struct, pid); o.update(&k, &v); return 0; }]]}; " ..
      "ffi.cdef'int getppid(void);'; ffi.C.getppid(); print(tonumber(b['o']:get(0)))")
    assert.are.equal(pid_offset .. "\n", b_out)
    assert.matches("\n%s+char comm%[16%];", out)
    assert.matches("\n%s+struct task_struct %*real_parent;", out)
    assert.matches("\n%s+unsigned int in_execve:1;%s+/%*%s+%d+:%d%s+1b %*/\n", out) -- a bit field
    assert.matches("\n};\n$", out)
    local union = e("struct('union bpf_attr')")
    assert.matches("^union bpf_attr {", union)
    assert.matches("\n%s+struct {", union) -- anonymous members open in place
    local _, missing, missing_status = e("struct('no_such_struct_x')")
    assert.are.equal(1, missing_status)
    assert.are.equal("bpflua: (command line):1: struct: no struct or union 'no_such_struct_x' in the kernel's BTF\n",
      missing)
  end)

  it("ksyms() lists kernel functions that match a pattern", function()
    local out, err, status = e("ksyms('tcp_v4_conn*')")
    assert.are.equal(0, status, err)
    assert.matches("\ntcp_v4_connect\n", "\n" .. out)
    assert.matches("\n%((%d+) functions?%)\n$", "\n" .. out)
    for name in out:gmatch("([^\n]+)\n") do
      assert.is_truthy(name:find("^tcp_v4_conn") or name:find("^%(%d+ function"), name)
    end
  end)

  it("usyms() lists a library's functions, the library named as attach_uprobe names it", function()
    local out, err, status = e("usyms('c', 'mall*')")
    assert.are.equal(0, status, err)
    assert.matches("^/[^\n]*libc%.so%.6\n", out)
    assert.matches("\n0x%x+  malloc\n", out)
    assert.is_nil(out:find("\n0x%x+  free\n"), out)
    local _, bad, bad_status = e("usyms('no_such_library_x')")
    assert.are.equal(1, bad_status)
    assert.matches("cannot find library 'no_such_library_x'", bad, 1, true)
  end)

  it("usdt() lists a binary's USDT probes", function()
    local out, err, status = e("usdt('/usr/bin/python3.11')")
    assert.are.equal(0, status, err)
    assert.matches("python:gc__start  1 location", out, 1, true)
    assert.matches("\n%(%d+ probes%)\n$", out)
  end)

  it("fields() finds the category of an event named alone", function()
    local out, err, status = e("fields('sched_switch')")
    assert.are.equal(0, status, err)
    assert.matches("^sched:sched_switch %(args%-> in TRACEPOINT_PROBE%(sched, sched_switch%)%)\n", out)
    assert.matches("\n%s+%d+%s+4%s+pid_t next_pid\n", out)
    local _, none, none_status = e("fields('no_such_event_x')")
    assert.are.equal(1, none_status)
    assert.matches("fields: no tracepoint is called no_such_event_x", none, 1, true)
  end)

  it("are at hand in scripts through require('bpflua.explore')", function()
    local out, err, status = h.run("bpflua - <<'EOF'\nlocal explore = require('bpflua.explore')\n" ..
      "explore.fields('sched_switch')\nEOF")
    assert.are.equal(0, status, err)
    assert.matches("^sched:sched_switch", out)
  end)
end)
