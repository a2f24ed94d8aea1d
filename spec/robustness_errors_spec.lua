-- Wrong answers that used to come silently and errors that said too little: 64-bit keys,
-- struct keys with a misspelt field, full tables, arrays, per-CPU lists, out-of-range
-- integers, bad program options, uprobe targets that are not ELF files, poll timeouts.
-- Each error must say what is wrong and point at the caller's line.
local BPF = require("bpflua")
local h = require("spec.helpers")

local THIS_FILE = "robustness_errors_spec%.lua:%d+: "

local function error_of(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "no error")
  return tostring(err)
end

local function tables()
  return BPF{text = [[
    struct task_key { u32 pid; char comm[16]; };
    BPF_HASH(wide, u64, u64, 8);
    BPF_HASH(narrow, u32, u32, 2);
    BPF_HASH(by_task, struct task_key, u64, 8);
    BPF_ARRAY(slots, u64, 4);
    BPF_PERCPU_ARRAY(per_cpu, u64, 2);
    int unused(void *ctx) { return 0; }
  ]]}
end

describe("robustness:", function()
  setup(function()
    assert(h.require_bpf())
  end)

  describe("table keys and values", function()
    it("u64 keys and values above 2^53 come back exact, as uint64_t cdata, and delete works", function()
      local b = tables()
      local wide = b["wide"]
      local big = 2ULL ^ 60 + 1
      wide:set(big, 2ULL ^ 63 + 3)
      wide:set(7, 9)
      local got = {}
      for k, v in wide:items() do
        got[tostring(k)] = v
      end
      assert.are.equal(2ULL ^ 63 + 3, got["1152921504606846977ULL"])
      assert.are.equal(9, got["7"]) -- small ones stay Lua numbers
      assert.are.equal(2ULL ^ 63 + 3, wide:get(big))
      for k in wide:keys() do
        assert.is_true(wide:delete(k))
      end
      assert.are.equal(0, wide:len())
      b:cleanup()
    end)

    it("negative, fractional and too large numbers for unsigned types are errors", function()
      local b = tables()
      assert.matches(THIS_FILE .. "table 'wide': key %-1 is not an integer from 0 to", error_of(b["wide"].set, b["wide"], -1, 1))
      assert.matches("table 'narrow': key %-1 is not an integer from 0 to 4294967295 %(the key type is unsigned int%)",
        error_of(b["narrow"].set, b["narrow"], -1, 1))
      assert.matches("key 4294967296 is not an integer", error_of(b["narrow"].get, b["narrow"], 2 ^ 32))
      assert.matches("key 1.5 is not an integer", error_of(b["narrow"].delete, b["narrow"], 1.5))
      assert.matches("value %-2 is not an integer from 0 to 4294967295", error_of(b["narrow"].set, b["narrow"], 1, -2))
      assert.matches("a key is a number, a table of fields or cdata, not nil", error_of(b["narrow"].get, b["narrow"], nil))
      b:cleanup()
    end)

    it("a struct key with a field the struct does not have is an error naming both", function()
      local b = tables()
      local t = b["by_task"]
      assert.matches(THIS_FILE .. "table 'by_task': the key has no field 'pdi' %(its fields: pid, comm%)",
        error_of(t.set, t, {pdi = 1, comm = "x"}, 1))
      t:set({pid = 1, comm = "x"}, 5)
      assert.are.equal(5, t:get{pid = 1, comm = "x"})
      b:cleanup()
    end)

    it("a full hash and an index out of an array's range say so", function()
      local b = tables()
      b["narrow"]:set(1, 1)
      b["narrow"]:set(2, 2)
      assert.matches(THIS_FILE .. "table 'narrow' is full %(max_entries 2%)", error_of(b["narrow"].set, b["narrow"], 3, 3))
      assert.matches(THIS_FILE .. "table 'slots': index 4 out of range 0..3", error_of(b["slots"].set, b["slots"], 4, 1))
      b:cleanup()
    end)

    it("clear() on an array says to use zero()", function()
      local b = tables()
      b["slots"]:set(1, 5)
      assert.matches(THIS_FILE .. "table 'slots' is an array: arrays cannot be cleared, use zero%(%)",
        error_of(b["slots"].clear, b["slots"]))
      b["slots"]:zero()
      assert.are.equal(0, b["slots"]:get(1))
      b:cleanup()
    end)

    it("a per-CPU list of the wrong length is an error giving the CPU count", function()
      local b = tables()
      local n = #b["per_cpu"]:get(0)
      local short, long = {}, {}
      for i = 1, n + 1 do
        short[i], long[i] = i < n and i or nil, i
      end
      local expected = "table 'per_cpu' is per%-CPU: give one value for every CPU, or a list of " .. n ..
        " values %(one per possible CPU%), not "
      assert.matches(THIS_FILE .. expected .. (n + 1), error_of(b["per_cpu"].set, b["per_cpu"], 0, long))
      if n > 1 then
        assert.matches(expected .. (n - 1), error_of(b["per_cpu"].set, b["per_cpu"], 0, short))
      end
      b["per_cpu"]:set(0, 7)
      assert.are.equal(7 * n, b["per_cpu"]:sum(0))
      b:cleanup()
    end)
  end)

  describe("program options", function()
    it("text that is not a string and src_file that is not a regular file are errors", function()
      assert.matches(THIS_FILE .. "BPF: text must be a string of BPF C, not a number", error_of(BPF.new, {text = 5}))
      assert.matches("BPF: src_file /tmp is a directory, not a regular file", error_of(BPF.new, {src_file = "/tmp"}))
      assert.matches("BPF: src_file /no/such/file.c: no such file", error_of(BPF.new, {src_file = "/no/such/file.c"}))
      assert.matches("src_file must not contain a NUL byte", error_of(BPF.new, {src_file = "a\0b.c"}))
      -- a quote, a backslash or a line break in the path: errors still point into the file
      local dir = os.tmpname() .. '-we"ird\\dir'
      os.execute("mkdir -p '" .. dir .. "'")
      local path = dir .. "/p\nrog.c"
      local f = assert(io.open(path, "w"))
      f:write("int x = ;\n")
      f:close()
      local located = error_of(BPF.new, {src_file = path})
      os.remove(path)
      os.remove(dir)
      assert.truthy(located:find(path .. ":1:9: error: expected expression", 1, true), located)
      assert.matches("cflags%[2%] must be a string, not a table", error_of(BPF.new, {text = "int x;", cflags = {"-DA", {}}}))
      -- A FIFO must not hang the caller: checked in a process of its own, with a time limit.
      local fifo = os.tmpname()
      os.remove(fifo)
      assert(os.execute("mkfifo " .. fifo) == 0)
      local out, err, status = h.run("timeout 20 bpflua -e \"print(pcall(require('bpflua').new, " ..
        "{src_file = '" .. fifo .. "'}))\"")
      os.remove(fifo)
      assert.are.equal(0, status, err)
      assert.matches("false\t.*is a fifo, not a regular file", out)
    end)
  end)

  describe("uprobes", function()
    local function uprobe_error(args)
      local b = BPF{text = "int on_call(struct pt_regs *ctx) { return 0; }"}
      args.fn_name = "on_call"
      local err = error_of(b.attach_uprobe, b, args)
      b:cleanup()
      return err
    end

    it("name a missing file, a file that is not ELF, a FIFO and a negative address", function()
      assert.matches(THIS_FILE .. "attach_uprobe: /no/such/file: no such file",
        uprobe_error({name = "/no/such/file", sym = "malloc"}))
      local text = os.tmpname()
      h.write_file(text, "not an ELF file\n")
      assert.matches("attach_uprobe: " .. text .. " is not an ELF file", uprobe_error({name = text, sym = "malloc"}))
      os.remove(text)
      assert.matches("attach_uprobe: addr must be an integer from 0 to", uprobe_error({name = "/bin/true", addr = -4096}))
      assert.matches("attach_uprobe: pid must be an integer", uprobe_error({name = "/bin/true", addr = 4096, pid = "x"}))
      -- A FIFO must not hang the caller: checked in a process of its own, with a time limit.
      local fifo = os.tmpname()
      os.remove(fifo)
      assert(os.execute("mkfifo " .. fifo) == 0)
      local out, err, status = h.run("timeout 20 bpflua -e \"local b = require('bpflua'){text = " ..
        "'int f(struct pt_regs *ctx) { return 0; }'}; print(pcall(b.attach_uprobe, b, " ..
        "{name = '" .. fifo .. "', sym = 'malloc', fn_name = 'f'}))\"")
      os.remove(fifo)
      assert.are.equal(0, status, err)
      assert.matches("false\t.*is a fifo, not a regular file", out)
    end)

    it("errors from attach_* point at the caller's line", function()
      local b = BPF{text = "int on_call(struct pt_regs *ctx) { return 0; }"}
      assert.matches("^.*" .. THIS_FILE .. "no symbol 'no_such_symbol_here' in /bin/true",
        error_of(b.attach_uprobe, b, {name = "/bin/true", sym = "no_such_symbol_here", fn_name = "on_call"}))
      assert.matches("^.*" .. THIS_FILE .. "tracepoint syscalls:no_such_event does not exist",
        error_of(b.attach_tracepoint, b, {tp = "syscalls:no_such_event", fn_name = "on_call"}))
      assert.matches("^.*" .. THIS_FILE .. "detach_tracepoint: nothing is attached",
        error_of(b.detach_tracepoint, b, {tp = "syscalls:sys_enter_getppid"}))
      b:cleanup()
    end)
  end)

  describe("poll timeouts", function()
    it("negative and huge wait as long as needed, NaN is an error", function()
      local b = h.probe("BPF_RINGBUF_OUTPUT(ring, 8);", "u64 who = args->who; ring.ringbuf_output(&who, sizeof(who), 0);")
      local n = 0
      b["ring"]:open_ring_buffer(function() n = n + 1 end)
      assert.matches(THIS_FILE .. "poll: timeout_ms must be a number of milliseconds, not nan",
        error_of(b.ring_buffer_poll, b, 0 / 0))
      assert.matches("not x", error_of(b.ring_buffer_poll, b, "x"))
      h.getpriority(1)
      assert.are.equal(1, b:ring_buffer_poll(-1))
      h.getpriority(2)
      assert.are.equal(1, b:ring_buffer_poll(1e15))
      assert.are.equal(0, b:ring_buffer_poll(1.5))
      b:cleanup()
    end)
  end)

  describe("tracefs", function()
    it("says it cannot be read by a user with CAP_BPF and CAP_PERFMON but not root", function()
      local code = "local BPF = require('bpflua'); local b = BPF{text = 'int f(void *ctx) { return 0; }'}; " ..
        "print(pcall(b.attach_tracepoint, b, {tp = 'syscalls:sys_enter_getppid', fn_name = 'f'}))"
      local home = h.tmpdir()
      local out, err = h.run("chmod 755 " .. home .. "; cd / && env HOME=" .. home .. " BPFLUA_CACHE_DIR=" .. home ..
        "/cache setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+perfmon " ..
        "--ambient-caps=+bpf,+perfmon bpflua -e \"" .. code .. "\"")
      assert.matches("tracefs is mounted at /sys/kernel/tracing but this user cannot read it", out .. err)
      -- the same for a TRACEPOINT_PROBE, whose arguments come from tracefs at compile time
      local probe = "local BPF = require('bpflua'); print(pcall(BPF, {text = " ..
        "'TRACEPOINT_PROBE(syscalls, sys_enter_getppid) { return 0; }'}))"
      local out2, err2 = h.run("cd / && env HOME=" .. home .. " BPFLUA_CACHE_DIR=" .. home ..
        "/cache setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=+bpf,+perfmon " ..
        "--ambient-caps=+bpf,+perfmon bpflua -e \"" .. probe .. "\"")
      os.execute("rm -rf " .. home)
      assert.matches("tracepoint syscalls:sys_enter_getppid: tracefs is mounted at /sys/kernel/tracing " ..
        "but this user cannot read it", out2 .. err2, 1, true)
    end)
  end)
end)
