-- Bad C gets an error a person can act on: positions in the user's own text, the offending
-- line, a pcall-able Lua error, and nothing left loaded.
local BPF = require("bpflua")
local h = require("spec.helpers")

local function compile_error(opts)
  local before = h.kernel_objects()
  local ok, err = pcall(BPF.new, opts)
  assert.is_false(ok, "expected the compile to fail")
  h.assert_kernel_objects(before)
  return err
end

describe("compile errors", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("carry <text>:line:col, the message and the offending line", function()
    local err = compile_error{text = "BPF_ARRAY(counts, u64, 1);\n\nint f(void *ctx) {\n  return undefined_name + 1;\n}\n"}
    assert.matches("<text>:4:10: error: use of undeclared identifier 'undefined_name'", err, 1, true)
    assert.matches("4 |   return undefined_name + 1;", err, 1, true)
  end)

  it("point into the user's text after a rewritten table call on the same line", function()
    local err = compile_error{text = "BPF_ARRAY(counts, u64, 1);\nint f(void *ctx) { counts.increment(0); return nope; }\n"}
    -- The rewrite keeps lengths, so the column of `nope` is where the user wrote it.
    assert.matches("<text>:2:48: error: use of undeclared identifier 'nope'", err, 1, true)
    assert.matches("counts.increment(0)", err, 1, true) -- the user's line, not the rewritten one
  end)

  it("name an unknown table method with its line and column", function()
    local err = compile_error{text = "BPF_ARRAY(counts, u64, 1);\nint f(void *ctx) {\n    counts.frobnicate(0);\n  return 0;\n}\n"}
    assert.matches("<text>:3:12: error: BPF_ARRAY 'counts' has no method 'frobnicate'", err, 1, true)
  end)

  it("ignore look-alikes in comments and strings and rewrite calls inside #define", function()
    local who = 60000 + math.random(1000)
    local b = BPF{text = [[
      BPF_ARRAY(counts, u64, 1);
      // counts.frobnicate(0) in a comment is not a call
      /* nor counts.frobnicate(1) here */
      #define COUNT() counts.increment(0)
      TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
        const char *s = "counts.frobnicate(2)";
        char c = '"';
        if (args->who != WHO) return 0;
        COUNT();
        return s[0] == c;
      }
    ]], cflags = {"-DWHO=" .. who}}
    h.getpriority(who)
    h.getpriority(who)
    assert.are.equal(2, b["counts"]:get(0))
    b:cleanup()
  end)

  it("name the file given as src_file", function()
    local dir = h.tmpdir()
    h.write_file(dir .. "/bad.c", "int f(void *ctx) {\n  return 1 +;\n}\n")
    local err = compile_error{src_file = dir .. "/bad.c"}
    assert.matches(dir .. "/bad.c:2:13: error: expected expression", err, 1, true)
    os.execute("rm -rf " .. dir)
  end)

  it("reject options that are not BPF's", function()
    local err = compile_error{text = "int x;", cflag = {}}
    assert.matches("unknown option 'cflag'", err, 1, true)
    err = compile_error{}
    assert.matches("text =", err, 1, true)
  end)

  it("come from BPF_TABLE with an unknown table type", function()
    local err = compile_error{text = "BPF_TABLE(\"hashy\", u32, u64, t, 8);\n"}
    assert.matches('<text>:1:11: error: BPF_TABLE: unknown table type "hashy" (known: "hash", ', err, 1, true)
  end)
end)
