-- Errors at the user's line and signals the user's way: C errors in a script's [[...]] text
-- name the script's file and line, the host prints bpflua's own errors in one sentence (a
-- traceback only with BPFLUA_DEBUG) and the user's with one, the verifier's "invalid mem
-- access 'scalar'" comes with a hint, and a script that catches Ctrl-C goes on.
local h = require("spec.helpers")
local text_position = require("bpflua.text_position")

local function script(text)
  local dir = h.tmpdir()
  local path = dir .. "/script.lua"
  h.write_file(path, text)
  return path, dir
end

-- Runs a script as bpflua from its own directory (so its name is "script.lua").
local function run_script(text, env)
  local path, dir = script(text)
  local out, err, status = h.run("cd " .. dir .. " && " .. (env or "") .. " bpflua script.lua")
  os.execute("rm -rf " .. dir)
  return out, err, status, path
end

describe("finding BPF C text in the script that gave it", function()
  local function locate(code, text, call_line)
    local path = script(code)
    local where = text_position.locate({source = "@" .. path, short_src = "script.lua",
      currentline = call_line}, text)
    os.execute("rm -rf " .. path:match("^(.*)/"))
    return where
  end

  it("starts a [[ string on the line after its bracket when a newline follows it", function()
    local where = locate("local BPF = require('bpflua')\n\nlocal b = BPF{text = [[\nint x;\n]]}\n",
      "int x;\n", 3)
    assert.are.same({name = "script.lua", line = 4, col = 1}, where)
  end)

  it("counts the column of text that begins on the bracket's line", function()
    local where = locate("x = 1\nlocal b = BPF{text = [==[int x; ]] int y;\n]==]}\n", "int x; ]] int y;\n", 2)
    assert.are.same({name = "script.lua", line = 2, col = 26}, where)
  end)

  it("finds text held in a variable defined earlier, and skips commented-out copies", function()
    local code = "local src = [[\nint z;\n]]\n--[[\nint z;\n]]\n-- \"int z;\n\"\nlocal b = BPF{text = src}\n"
    local where = locate(code, "int z;\n", 9)
    assert.are.same({name = "script.lua", line = 2, col = 1}, where)
  end)

  it("takes, of two equal literals, the one at the call", function()
    local code = "a = BPF{text = 'int q;'}\n\n\nb = BPF{text = 'int q;'}\n"
    assert.are.equal(4, locate(code, "int q;", 4).line)
    assert.are.equal(1, locate(code, "int q;", 1).line)
  end)

  it("gives up on text built at run time, keeping <text>", function()
    assert.is_nil(locate("b = BPF{text = 'int ' .. 'q;'}\n", "int q;", 1))
    local message = "<text>:1:5: error: x\n    1 | int q;\n      |     ^"
    assert.are.equal(message, text_position.rewrite(message, "<text>", nil))
  end)

  it("rewrites positions and the quoted source's line numbers", function()
    local where = {name = "s.lua", line = 10, col = 21}
    local message = "<text>:1:5: error: a\n    1 | int q;\n      |     ^\n" ..
      "<text>:3:2: warning: b\n    3 | x\n      | ^\n;  @ <text>:3\n;  @ <text>:0"
    assert.are.equal("s.lua:10:25: error: a\n   10 | int q;\n      |     ^\n" ..
      "s.lua:12:2: warning: b\n   12 | x\n      | ^\n;  @ s.lua:12\n;  @ <text>:0",
      text_position.rewrite(message, "<text>", where))
  end)
end)

describe("the host's errors", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("prints a C error in a [[...]] text at the script's line, without a traceback", function()
    local _, err, status = run_script([=[
local BPF = require("bpflua")

local b = BPF{text = [[
BPF_ARRAY(c, u64, 1);
TRACEPOINT_PROBE(sched, sched_switch) { return undefined_thing]=] .. h.unique() .. [=[; }
]]}
]=])
    assert.are.equal(1, status)
    assert.matches("^script%.lua:5:48: error: use of undeclared identifier 'undefined_thing%d+'\n" ..
      "    5 | TRACEPOINT_PROBE", err)
    assert.is_nil(err:find("traceback", 1, true), err)
    assert.is_nil(err:find("<text>", 1, true), err)
  end)

  it("gives C errors the script's line in pcall too, through a variable and [==[ ]==]", function()
    local out, err, status = run_script([=[
local BPF = require("bpflua")
local src = [==[int a = 1; int b = nope;
]==]
print(select(2, pcall(BPF, {text = src})))
print(select(2, pcall(BPF, {text = "int q = " .. "nope;"})))
]=])
    assert.are.equal(0, status, err)
    assert.matches("^script%.lua:2:36: error: use of undeclared identifier 'nope'\n", out)
    -- built at run time: the text's own positions
    assert.matches("\n<text>:1:9: error: use of undeclared identifier 'nope'\n", out)
  end)

  it("prints bpflua's one-sentence errors at the user's line without a traceback", function()
    local _, err, status = run_script("local BPF = require('bpflua')\n\nBPF{text = 42}\n")
    assert.are.equal(1, status)
    assert.are.equal("bpflua: script.lua:3: BPF: text must be a string of BPF C, not a number\n", err)
  end)

  it("prints the traceback too with BPFLUA_DEBUG set", function()
    local _, err, status = run_script("local BPF = require('bpflua')\n\nBPF{text = 42}\n", "BPFLUA_DEBUG=1")
    assert.are.equal(1, status)
    assert.matches("^bpflua: script%.lua:3: BPF: text must be a string", err)
    assert.matches("stack traceback:", err, 1, true)
  end)

  it("keeps the traceback of an error in the user's own code", function()
    local _, err, status = run_script("local function f() error('mine') end\nf()\n")
    assert.are.equal(1, status)
    assert.matches("^bpflua: script%.lua:1: mine\nstack traceback:", err)
    assert.matches("in function 'f'", err, 1, true)
  end)

  it("says it needs root in one sentence, without a traceback", function()
    local path, dir = script("local BPF = require('bpflua')\nBPF{text = 'int x;'}\n")
    os.execute("chmod 755 " .. dir)
    local _, err, status = h.run("cd " .. dir .. " && setpriv --reuid=65534 --regid=65534 " ..
      "--clear-groups --inh-caps=-all bpflua script.lua")
    os.execute("rm -rf " .. dir)
    assert.are.equal(1, status)
    assert.are.equal("bpflua: bpflua needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to " ..
      "load BPF programs; run it as root\n", err, path)
  end)
end)

describe("the verifier's \"invalid mem access 'scalar'\"", function()
  setup(function()
    assert(h.require_bpf())
  end)

  local function rejection(decls, body)
    local out, err, status = run_script([[
local BPF = require("bpflua")
local ok, err = pcall(BPF, {text = [==[
]] .. decls .. [[

TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
]] .. body .. [[
}
]==]})
print(ok and "loaded" or err)
]])
    assert.are.equal(0, status, err)
    return out
  end

  it("gets a hint for a pointer made from a number (a map's u64), at the script's line", function()
    local out = rejection("BPF_HASH(addrs, u32, u64); // " .. h.unique(), [[
  u32 k = 0;
  u64 *p = addrs.lookup(&k);
  if (!p) return 0;
  struct task_struct *t = (struct task_struct *)*p;
  return t->pid;]])
    assert.matches("the BPF verifier rejected program 'tracepoint__syscalls__sys_enter_getpriority'", out, 1, true)
    assert.matches("invalid mem access 'scalar'", out, 1, true)
    assert.matches("hint: the program reads through a pointer that the verifier knows only as a " ..
      "number %(a 'scalar'%) at script%.lua:%d+%.", out)
    assert.matches("BPF_CORE_READ(p, field)", out, 1, true)
    -- the line the hint names is one of the program's lines in the script (3 to 11)
    local line = tonumber(out:match("at script%.lua:(%d+)%."))
    assert.is_true(line >= 6 and line <= 10, out)
  end)

  -- (bcc's rules read a bit field through a pointer they know to be the kernel's: this one,
  -- made from a number, they do not follow)
  it("gets the hint for a bit field read through a kernel pointer", function()
    local out = rejection("// " .. h.unique(), [[
  struct task_struct *t = (struct task_struct *)(unsigned long)bpf_get_prandom_u32();
  return t->in_execve;]])
    assert.matches("invalid mem access 'scalar'", out, 1, true)
    assert.matches("BPF_CORE_READ_BITFIELD_PROBED(p, field) for a bit field", out, 1, true)
  end)

  it("names the script's lines when attach_* loads the program", function()
    local _, err, status = run_script([[
local BPF = require("bpflua")
local b = BPF{text = [==[
// ]] .. h.unique() .. [[

int on_tp(void *ctx) {
  struct task_struct *t = (struct task_struct *)(unsigned long)bpf_get_prandom_u32();
  return t->in_execve;
}
]==]}
b:attach_tracepoint{tp = "syscalls:sys_enter_getppid", fn_name = "on_tp"}
]])
    assert.are.equal(1, status)
    assert.matches("^bpflua: script%.lua:9: the BPF verifier rejected program 'on_tp'", err)
    assert.matches("hint: [^\n]* at script%.lua:6%.\n", err)
    assert.is_nil(err:find("<text>", 1, true), err)
    assert.is_nil(err:find("traceback", 1, true), err)
  end)

  it("loads the reads the hint suggests", function()
    local out = rejection("BPF_HASH(addrs, u32, u64); // " .. h.unique(), [[
  u32 k = 0;
  u64 *p = addrs.lookup(&k);
  if (!p) return 0;
  struct task_struct *t = (struct task_struct *)*p;
  return BPF_CORE_READ(t, pid) + BPF_CORE_READ_BITFIELD_PROBED(t, in_execve);]])
    assert.are.equal("loaded\n", out)
  end)
end)

describe("Ctrl-C", function()
  setup(function()
    assert(h.require_bpf())
  end)

  -- Starts the script as a real bpflua process, waits until it prints "ready", sends it
  -- SIGINT and returns its stdout, stderr and exit status.
  local function interrupt(text)
    local path, dir = script(text)
    local cmd = string.format([[
      cd %s && bpflua script.lua > out 2> err & pid=$!
      for i in $(seq 1 200); do grep -q ready %s/out && break; sleep 0.05; done
      kill -INT $pid; wait $pid; echo "status=$?"
    ]], dir, dir)
    local result = h.run(cmd)
    local out = io.open(dir .. "/out"):read("*a")
    local err = io.open(dir .. "/err"):read("*a")
    os.execute("rm -rf " .. dir)
    assert.matches("^ready\n", out, nil, path)
    return out, err, tonumber(result:match("status=(%d+)"))
  end

  it("caught around BPF.sleep lets the script go on and exit with its own status", function()
    local out, err, status = interrupt([[
local BPF = require("bpflua")
print("ready") io.stdout:flush()
local ok, e = pcall(BPF.sleep, 30)
print("caught", ok, e)
BPF.sleep(0.3) -- the interrupt was delivered: this sleep sleeps
print("went on")
os.exit(3)
]])
    assert.are.equal("ready\ncaught\tfalse\tinterrupted\nwent on\n", out)
    assert.are.equal("", err)
    assert.are.equal(3, status)
  end)

  it("caught around a poll loop lets the script go on and end normally", function()
    local out, err, status = interrupt([[
local BPF = require("bpflua")
local b = BPF{text = "BPF_RINGBUF_OUTPUT(events, 4);\n// ]] .. h.unique() .. [[\n"}
b["events"]:open_ring_buffer(function() end)
print("ready") io.stdout:flush()
local ok, e = pcall(function()
  while true do b:ring_buffer_poll(100) end
end)
print("stopped", ok, e)
b:ring_buffer_poll(50)
print("polled again")
]])
    assert.matches("\nstopped\tfalse\t[^\n]*interrupted\npolled again\n$", out)
    assert.are.equal("", err)
    assert.are.equal(0, status)
  end)

  it("that ends the script prints 'bpflua: interrupted' alone and exits 130", function()
    local out, err, status = interrupt([[
local BPF = require("bpflua")
print("ready") io.stdout:flush()
BPF.sleep(30)
print("not reached")
]])
    assert.are.equal("ready\n", out)
    assert.are.equal("bpflua: interrupted\n", err)
    assert.are.equal(130, status)
  end)

  it("re-raised after a report still ends the script with 130", function()
    local out, err, status = interrupt([[
local BPF = require("bpflua")
print("ready") io.stdout:flush()
local ok, e = pcall(BPF.sleep, 30)
print("report")
error(e, 0)
]])
    assert.are.equal("ready\nreport\n", out)
    assert.are.equal("bpflua: interrupted\n", err)
    assert.are.equal(130, status)
  end)
end)
