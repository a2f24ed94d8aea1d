-- Every fenced code block in README.md and docs/*.md, run as a reader would run it, so that no
-- example rots. Each block is its own test, named file:line (the line of its opening fence).
--
-- The info string after the opening fence says what a block is:
--   lua    a script: saved as script.lua and run with the build tree's `bpflua script.lua`
--          as root, from the top of the checkout; it must exit with status 0 within
--          BLOCK_TIMEOUT seconds
--   sh     run with bash (-e, -o pipefail) from the top of the checkout, same rules: only
--          commands that are safe and quick (`bpflua -e ...`, a tool with a duration)
--   c      BPF C: compiled and loaded (and its TRACEPOINT_PROBEs attached) with
--          BPF{src_file = ...}; a complete program, not a fragment
--   text   not run: install steps, REPL sessions, commands that run until Ctrl-C, outputs
-- A block without an info string, or with another one, fails here, so that nobody adds
-- code that is never run by accident.
--
-- What a block prints can be checked too, in two ways:
--   print(x)   --> 42        in a lua block (`# --> 42` in sh): the text after "--> " must
--                            appear in the output
--   ```text output           a text block right after a runnable block whose info string
--                            is "text output": each of its lines must appear in the output,
--                            in order; a line "..." stands for any lines
local h = require("spec.helpers")

-- Seconds a block may run (DOCS_BLOCK_TIMEOUT changes it: a short one finds slow blocks).
local BLOCK_TIMEOUT = tonumber(os.getenv("DOCS_BLOCK_TIMEOUT")) or 60
local RUN = {lua = true, sh = true, c = true}
local KINDS = "lua, sh or c (run by spec/docs_spec.lua) or text (not run)"

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- README.md and docs/*.md, relative to the top of the checkout (where busted runs).
local function doc_files()
  local files = {"README.md"}
  local p = io.popen("ls docs/*.md 2>/dev/null")
  for line in p:lines() do
    files[#files + 1] = line
  end
  p:close()
  return files
end

-- The fenced blocks of a Markdown text: {line =, info =, kind =, body =}, in order, and a
-- list of problems (a fence left open).
local function parse_blocks(text)
  local blocks, problems = {}, {}
  local open, n = nil, 0
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    n = n + 1
    local indent, fence, rest = line:match("^( ? ? ?)(```+)(.*)$")
    if open then
      if fence and #fence >= #open.fence and rest:match("^%s*$") then
        open.body = table.concat(open.lines, "\n") .. (#open.lines > 0 and "\n" or "")
        open.lines = nil
        blocks[#blocks + 1] = open
        open = nil
      else
        -- the body's lines lose the fence's indentation, as CommonMark reads them
        open.lines[#open.lines + 1] = line:sub(1, #open.indent) == open.indent and
          line:sub(#open.indent + 1) or line
      end
    elseif fence then
      local info = rest:match("^%s*(.-)%s*$")
      open = {line = n, info = info, kind = info:match("^(%S*)"), fence = fence, indent = indent,
              lines = {}}
    end
  end
  if open then
    problems[#problems + 1] = {line = open.line, message = "a code fence that is never closed"}
  end
  return blocks, problems
end

-- What the block says it prints: the texts of its `--> text` comments, and the lines of a
-- following "text output" block; two lists, each checked in its own order.
local function expected_output(block, following)
  local inline, shown = {}, {}
  local marker = block.kind == "sh" and "#%s*%-%->%s?(.-)%s*$" or "%-%->%s?(.-)%s*$"
  for line in block.body:gmatch("[^\n]+") do
    local text = line:match(marker)
    if text and text ~= "" then
      inline[#inline + 1] = text
    end
  end
  if following and following.info == "text output" then
    for line in following.body:gmatch("[^\n]+") do
      local text = line:match("^%s*(.-)%s*$")
      if text ~= "" then
        shown[#shown + 1] = text
      end
    end
  end
  return inline, shown
end

-- Each wanted text on a line of output, in order ("..." skips ahead: order is all that counts).
local function check_output(output, want)
  local lines = {}
  for line in output:gmatch("[^\n]*") do
    lines[#lines + 1] = line
  end
  local at = 1
  for _, text in ipairs(want) do
    if text ~= "..." then
      local found
      for i = at, #lines do
        if lines[i]:find(text, 1, true) then
          found = i
          break
        end
      end
      if not found then
        return false, "expected '" .. text .. "' in the output (after line " .. (at - 1) .. ")"
      end
      at = found + 1
    end
  end
  return true
end

local function shell_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- The command that runs a block written to dir; nil for blocks that are not run.
local function command_for(block, dir, name)
  local timeout = "timeout -s INT -k 5 " .. BLOCK_TIMEOUT .. " "
  if block.kind == "lua" then
    -- script.lua, as a reader would save it, so that errors read as the doc shows them
    os.execute("mkdir -p " .. shell_quote(dir .. "/" .. name))
    local path = dir .. "/" .. name .. "/script.lua"
    h.write_file(path, block.body)
    return timeout .. "bpflua " .. shell_quote(path)
  elseif block.kind == "sh" then
    local path = dir .. "/" .. name .. ".sh"
    h.write_file(path, block.body)
    return timeout .. "bash -e -o pipefail " .. shell_quote(path)
  elseif block.kind == "c" then
    local c_path = dir .. "/" .. name .. ".c"
    h.write_file(c_path, block.body)
    local lua_path = dir .. "/" .. name .. "_load.lua"
    h.write_file(lua_path, string.format([[
local BPF = require("bpflua")
local b = BPF{src_file = %q}
print("loaded: " .. table.concat(b:table_names(), ", "))
]], c_path))
    return timeout .. "bpflua " .. shell_quote(lua_path)
  end
end

local root = io.popen("pwd"):read("*l")
local workdir = h.tmpdir()

describe("the docs' code blocks", function()
  teardown(function()
    os.execute("rm -rf " .. shell_quote(workdir))
  end)

  for _, file in ipairs(doc_files()) do
    local blocks, problems = parse_blocks(read(file))
    for _, p in ipairs(problems) do
      it(file .. ":" .. p.line, function()
        error(file .. ":" .. p.line .. ": " .. p.message, 0)
      end)
    end
    for i, block in ipairs(blocks) do
      local where = file .. ":" .. block.line
      local label = where .. " (" .. (block.info ~= "" and block.info or "no info string") .. ")"
      if block.kind == "" then
        it(label, function()
          error(where .. ": a code block without an info string: mark it " .. KINDS, 0)
        end)
      elseif block.kind ~= "text" and not RUN[block.kind] then
        it(label, function()
          error(where .. ": a code block of kind '" .. block.kind .. "': mark it " .. KINDS, 0)
        end)
      elseif RUN[block.kind] then
        it(label, function()
          assert(h.require_bpf())
          local name = file:gsub("[^%w]", "_") .. "_" .. block.line
          local command = command_for(block, workdir, name)
          -- stdout and stderr as one stream, so that a check of the order sees both
          local output, _, status = h.run("cd " .. shell_quote(root) .. " && " .. command .. " 2>&1")
          if status == 124 or status == 137 then
            error(string.format("%s: still running after %d s: a doc example must end by itself " ..
              "(a bounded poll, a duration); output:\n%s", where, BLOCK_TIMEOUT, output), 0)
          end
          if status ~= 0 then
            error(string.format("%s: exit status %d; output:\n%s", where, status, output), 0)
          end
          local inline, shown = expected_output(block, blocks[i + 1])
          local ok, why = check_output(output, inline)
          if ok then
            ok, why = check_output(output, shown)
          end
          if not ok then
            error(string.format("%s: %s; output:\n%s", where, why, output), 0)
          end
        end)
      end
    end
  end
end)

-- README's tools table has a row for every tool in scripts/ (issue 13): a tool added without
-- one fails here. Scripts that are not tools are listed below the table instead.
local NOT_TOOLS = {["fuzz_seeds.lua"] = true}

describe("README's tools table", function()
  it("names every tool in scripts/", function()
    local readme = read("README.md")
    local start = readme:find("\n## Tools\n", 1, true)
    assert(start, "README.md has no '## Tools' section")
    local section = readme:sub(start, (readme:find("\n## ", start + 1, true) or #readme + 1) - 1)
    local rows = {}
    for row in section:gmatch("\n(|[^\n]*)") do
      for name in row:match("^|([^|]*)"):gmatch("`([%w_]+%.lua)") do
        rows[name] = true
      end
    end
    local missing = {}
    local p = io.popen("ls scripts/*.lua")
    for path in p:lines() do
      local name = path:match("([^/]+)$")
      if not rows[name] and not NOT_TOOLS[name] then
        missing[#missing + 1] = name
      end
    end
    p:close()
    assert(#missing == 0, "README.md's tools table has no row for: " .. table.concat(missing, ", "))
  end)
end)

-- The spec's own reading of Markdown, on texts made for it (no BPF needed).
describe("docs_spec's block reader", function()
  it("finds blocks with their lines, info strings and bodies", function()
    local blocks, problems = parse_blocks("# t\n```lua\nprint(1) --> 1\n```\n\n  ```text output\n  1\n  ```\n```\nx\n```\n")
    assert.are.same({}, problems)
    assert.are.equal(3, #blocks)
    assert.are.same({2, "lua", "print(1) --> 1\n"}, {blocks[1].line, blocks[1].kind, blocks[1].body})
    assert.are.same({6, "text output", "1\n"}, {blocks[2].line, blocks[2].info, blocks[2].body})
    assert.are.same({9, ""}, {blocks[3].line, blocks[3].kind})
    assert.are.same({{"1"}, {"1"}}, {expected_output(blocks[1], blocks[2])})
  end)

  it("reports a fence left open", function()
    local _, problems = parse_blocks("```sh\necho\n")
    assert.are.same({{line = 1, message = "a code fence that is never closed"}}, problems)
  end)

  it("checks outputs in order, with ... skipping", function()
    assert.is_true(check_output("a\nb 2\nc\n", {"a", "...", "c"}))
    assert.is_false(check_output("c\na\n", {"a", "c"}))
    assert.is_false(check_output("a\n", {"b"}))
  end)
end)
