-- Errors found after bcc's rules edited the program (probe arguments read from registers,
-- implicit kernel reads, bit field reads, USDT readers) come from a second compile of the
-- edited text: code generation and the back end (here: a call of a function declared with
-- __attribute__((error))), and the line numbers in the verifier's log. Each must point at the
-- user's own line:col and quote the user's own line, as the same program laid out the same way
-- without the edit does.
local BPF = require("bpflua")
local h = require("spec.helpers")

local MUST_NOT = 'static void __attribute__((error("must not be called"))) must_not(u64 x);'

-- The text of lines (built at run time, so errors keep the name "<text>").
local function program(lines)
  return table.concat(lines, "\n") .. "\n"
end

local function compile_error(lines)
  local ok, err = pcall(BPF.new, {text = program(lines)})
  assert.is_false(ok, "expected the compile to fail")
  return err
end

-- The first must_not error's line and column, and the source line quoted under it.
local function must_not_error(err)
  local line, col, quoted = err:match("<text>:(%d+):(%d+): error: call to must_not[^\n]*\n%s*%d+ | ([^\n]*)")
  assert(line, "no must_not error in:\n" .. err)
  return {line = tonumber(line), col = tonumber(col), quoted = quoted}
end

-- Where the user wrote the n-th must_not( of line `line` (1-based).
local function written_at(lines, line, n)
  local col = 0
  for _ = 1, n or 1 do
    col = lines[line]:find("must_not(", col + 1, true)
  end
  return {line = line, col = col, quoted = lines[line]}
end

-- The edited program and the same layout without the edit report the same place, the
-- user's: line `line`, the n-th must_not( on it.
local function assert_same_place(edited, plain, line, n)
  assert.are.same(written_at(edited, line, n), must_not_error(compile_error(edited)))
  assert.are.same(written_at(plain, line, n), must_not_error(compile_error(plain)))
  assert.are.equal(written_at(edited, line, n).col, written_at(plain, line, n).col)
end

local function on_sys_enter(body)
  local lines = {MUST_NOT, "RAW_TRACEPOINT_PROBE(sys_enter) {",
    "  struct task_struct *task = (struct task_struct *)bpf_get_current_task();"}
  for _, l in ipairs(body) do
    lines[#lines + 1] = l
  end
  lines[#lines + 1] = "  return 0;"
  lines[#lines + 1] = "}"
  return lines
end

describe("errors of the C that bcc's rules edited", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("after an implicit kernel read on the same line", function()
    assert_same_place(
      on_sys_enter{"  u32 x = task->real_parent->tgid; must_not(x);"},
      on_sys_enter{"  u32 x = 7                      ; must_not(x);"}, 4)
  end)

  it("after a probe's arguments, on the line of its brace", function()
    assert_same_place(
      {MUST_NOT, "int probe(struct pt_regs *ctx, int a, long b) { must_not(a + b); return 0; }"},
      {MUST_NOT, "int probe(struct pt_regs *ctx               ) { must_not(1 + 2); return 0; }"}, 2)
  end)

  it("after a probe's arguments written over several lines", function()
    assert_same_place(
      {MUST_NOT, "int probe(struct pt_regs *ctx,", "          int a,", "          long b) { must_not(a + b);",
       "  return 0;", "}"},
      {MUST_NOT, "int probe(struct pt_regs *ctx ", "                ", "                ) { must_not(1 + 2);",
       "  return 0;", "}"}, 4)
  end)

  it("on the line after an implicit read written over several lines, with a comment in it", function()
    assert_same_place(
      on_sys_enter{"  u32 x = task->", "      real_parent-> // the parent", "      tgid;", "  must_not(x);"},
      on_sys_enter{"  u32 x = 1 +", "      2 +           // the parent", "      3;", "  must_not(x);"}, 7)
  end)

  it("after a bit field read on the same line", function()
    assert_same_place(
      on_sys_enter{"  u32 x = task->in_execve; must_not(x);"},
      on_sys_enter{"  u32 x = 3              ; must_not(x);"}, 4)
  end)

  it("after a USDT argument read over two lines, and on the line after it", function()
    local reader = "static int _bpf_readarg_probe_1(struct pt_regs *ctx, void *dest, size_t len) { return 0; }"
    local edited = {MUST_NOT, reader, "int probe(struct pt_regs *ctx) {", "  u64 v = 0; bpf_usdt_readarg(1,",
      "     ctx, &v); must_not(v);", "  must_not(v + 1);", "  return 0;", "}"}
    local plain = {MUST_NOT, reader, "int probe(struct pt_regs *ctx) {", "  u64 v = 0; v = (1 +",
      "     2 * 3  ); must_not(v);", "  must_not(v + 1);", "  return 0;", "}"}
    assert_same_place(edited, plain, 5)
    -- Every error is reported, each at its own line.
    local err = compile_error(edited)
    local _, second = err:find("<text>:5:", 1, true)
    assert.truthy(err:find("<text>:6:3: error: call to must_not", second, true), err)
  end)

  it("has the user's line numbers in the verifier's log", function()
    -- Line 7 stores through a lookup that may be NULL, after a read over lines 4-5.
    local lines = {"BPF_HASH(out, int, u64);", "RAW_TRACEPOINT_PROBE(sys_enter) {",
      "  struct task_struct *task = (struct task_struct *)bpf_get_current_task();",
      "  u32 x = task->", "      real_parent->tgid;", "  int k = 0; u64 *v = out.lookup(&k);", "  *v = x;",
      "  return 0;", "}"}
    local ok, err = pcall(BPF.new, {text = program(lines)})
    assert.is_false(ok)
    local before_failure = err:match("^(.-)R%d invalid mem access 'map_value_or_null'")
    assert(before_failure, err)
    local last_line
    for line in before_failure:gmatch("@ <text>:(%d+)") do
      if line ~= "0" then
        last_line = tonumber(line)
      end
    end
    assert.are.equal(7, last_line, err)
  end)
end)
