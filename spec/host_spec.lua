-- The bpflua executable: flags, arguments, exit codes, Ctrl-C.
local h = require("spec.helpers")

local function script(text)
  local path = os.tmpname() .. ".lua"
  h.write_file(path, text)
  return path
end

describe("the bpflua host", function()
  it("prints the versions of bpflua, LuaJIT, libbpf and Clang with -v", function()
    local out, _, status = h.run("bpflua -v")
    assert.are.equal(0, status)
    assert.matches("^bpflua %d+%.%d+%.%d+\n", out)
    assert.matches("LuaJIT 2%.1", out)
    assert.matches("libbpf v%d", out)
    assert.matches("Clang 14", out)
  end)

  it("prints usage with -h and refuses unknown options", function()
    local out, _, status = h.run("bpflua -h")
    assert.are.equal(0, status)
    assert.matches("usage: bpflua", out, 1, true)
    local _, err, bad = h.run("bpflua -Q")
    assert.are.equal(1, bad)
    assert.matches("unknown option '-Q'", err, 1, true)
  end)

  it("runs -e code, stdin with -, and scripts with arg set as lua does", function()
    local out, _, status = h.run("bpflua -e 'print(20 + 22)'")
    assert.are.equal(0, status)
    assert.are.equal("42\n", out)
    out, _, status = h.run("echo 'print(\"from stdin\")' | bpflua -")
    assert.are.equal(0, status)
    assert.are.equal("from stdin\n", out)
    local path = script("print(arg[0] == ..., select('#', ...), arg[1], arg[2], arg[-1] ~= nil)")
    out, _, status = h.run("bpflua " .. path .. " one two")
    assert.are.equal(0, status)
    assert.are.equal("false\t2\tone\ttwo\ttrue\n", out)
    os.remove(path)
  end)

  it("gives require('bpflua') the BPF class in the host and in a stock luajit", function()
    local code = "local BPF = require('bpflua'); print(type(BPF.new), type(BPF.sleep), BPF.version)"
    local a = h.run("bpflua -e \"" .. code .. "\"")
    local b = h.run("luajit -e \"" .. code .. "\"")
    assert.matches("^function\tfunction\t%d", a)
    assert.are.equal(a, b)
  end)

  it("exits 1 with the error and a Lua traceback on stderr", function()
    local path = script("local function inner() error('boom') end\ninner()\n")
    local _, err, status = h.run("bpflua " .. path)
    assert.are.equal(1, status)
    assert.matches(":1: boom", err, 1, true)
    assert.matches("stack traceback:", err, 1, true)
    assert.matches("in function 'inner'", err, 1, true)
    os.remove(path)
  end)

  it("starts the REPL on a terminal without a script, and leaves it on Ctrl-D with status 0", function()
    -- script(1) gives bpflua a terminal; what it types arrives as keys (\r Enter, \004 Ctrl-D).
    local home = h.tmpdir()
    local out, _, status = h.run("(sleep 0.5; printf '20 + 22\\r'; sleep 0.5; printf '\\004'; sleep 0.5) | " ..
      "timeout 20 script -qec 'env HOME=" .. home .. " bpflua' /dev/null")
    os.execute("rm -rf " .. home)
    assert.are.equal(0, status, out)
    assert.matches("help() for help", out, 1, true)
    assert.matches("\n42\r?\n", out)
  end)

  it("runs the REPL on standard input with -i", function()
    local out, _, status = h.run("printf 'x = 20\\nx + 22\\n' | env HOME=/nonexistent bpflua -i")
    assert.are.equal(0, status)
    assert.matches("\n42\n", out)
  end)

  describe("on Ctrl-C", function()
    setup(function()
      assert(h.require_bpf())
    end)

    -- Runs body in a script that has attached a probe, interrupts it, and returns what the
    -- shell said, what the script printed, and the ids of the BPF objects the script held
    -- (only its own: other BPF users of the machine do not matter).
    local function interrupt(body)
      local path = script([[
        local BPF = require("bpflua")
        local b = BPF{text = "BPF_ARRAY(c, u64, 1);\nTRACEPOINT_PROBE(syscalls, sys_enter_getppid) { c.increment(0); return 0; }\n"}
        print("ids " .. require("spec.helpers").object_ids())
        print("attached")
        io.stdout:flush()
      ]] .. body)
      local out = os.tmpname()
      -- Start it, wait until it says it has attached, then send SIGINT and collect its status.
      local cmd = string.format([[
        bpflua %s > %s 2>&1 & pid=$!
        for i in $(seq 1 200); do grep -q attached %s && break; sleep 0.05; done
        start=$(date +%%s%%N); kill -INT $pid; wait $pid; status=$?
        echo "status=$status ms=$(( ($(date +%%s%%N) - start) / 1000000 ))"
      ]], path, out, out)
      local result = h.run(cmd)
      local during = io.open(out):read("*a")
      os.remove(out)
      os.remove(path)
      local ids = during:match("ids ([^\n]*)")
      assert.is_truthy(ids and ids:find("prog:%d+"), during)
      return result, during, ids
    end

    it("stops a script in a blocking wait promptly, detaches everything, exits 130", function()
      local result, output, ids = interrupt("BPF.sleep(60)\n")
      assert.matches("status=130", result, 1, true)
      assert.is_true(tonumber(result:match("ms=(%d+)")) < 2000, result)
      assert.matches("interrupted", output, 1, true)
      h.assert_ids_gone(ids)
    end)

    it("stops a busy Lua loop too", function()
      local result, _, ids = interrupt("local x = 0\nwhile true do x = x + 1 end\n")
      assert.matches("status=130", result, 1, true)
      h.assert_ids_gone(ids)
    end)
  end)

  it("says in one sentence that it needs root when it is not root", function()
    assert(h.require_bpf())
    local code = "local BPF = require('bpflua'); local ok, e = pcall(BPF.new, {text = 'int x;'}); print(ok, e)"
    local out, err, status = h.run("setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all bpflua -e \"" .. code .. "\"")
    assert.are.equal(0, status, err)
    assert.are.equal("false\tbpflua needs root (CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN) to load BPF programs; run it as root\n", out)
  end)
end)
