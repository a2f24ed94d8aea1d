-- The vmlinux.h that a first compile on a kernel writes for the types a program names
-- (runtime/kernel_types_trimmed.c) against the full one (runtime/kernel_types.c), both from
-- this kernel's BTF: every declaration of the trimmed header is the full header's, word for
-- word, types that share a name included (btf_dump numbers them by the order it writes them
-- in, which a trimmed header changes and renames back).
local h = require("spec.helpers")

local root = debug.getinfo(1, "S").source:match("^@(.*)/spec/[^/]*$") or "."

-- A program of its own around the two writers: `tool full PATH` and `tool trimmed PATH NAMES`
-- (one name a line); prints the trimmed writer's return and count of types.
local tool_source = [[
#include "kernel_types.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv)
{
	char *error = NULL;
	if (argc == 3 && !strcmp(argv[1], "full"))
		return kernel_types_write_vmlinux_h(argv[2], NULL, &error) == 0 ? 0 : (puts(error), 1);
	static char names[1 << 20];
	FILE *f = fopen(argv[3], "r");
	size_t n = f ? fread(names, 1, sizeof(names) - 1, f) : 0;
	names[n] = '\0';
	size_t types = 0;
	int rc = kernel_types_write_trimmed(argv[2], names, &types, &error);
	printf("%d %zu %s\n", rc, types, error ? error : "");
	return rc < 0;
}
]]

local function read(path)
  local f = assert(io.open(path))
  local s = f:read("*a")
  f:close()
  return s
end

describe("a vmlinux.h trimmed to the types a program names", function()
  local dir, tool, full

  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
    tool = dir .. "/tool"
    h.write_file(dir .. "/tool.c", tool_source)
    local r = root .. "/runtime/"
    local _, err, status = h.run("cc -O1 -I" .. r .. " -o " .. tool .. " " .. dir .. "/tool.c " ..
      r .. "kernel_types.c " .. r .. "kernel_types_trimmed.c " .. r .. "util.c " .. r ..
      "libbpf_log.c " .. r .. "sha256.c -lbpf")
    assert.are.equal(0, status, err)
    local out
    out, err, status = h.run(tool .. " full " .. dir .. "/full.h")
    assert.are.equal(0, status, out .. err)
    full = read(dir .. "/full.h")
  end)

  teardown(function()
    os.execute("rm -rf " .. dir)
  end)

  -- Writes the header for names; returns the writer's result and the header's declarations.
  local function trimmed(names)
    h.write_file(dir .. "/names", table.concat(names, "\n") .. "\n")
    local out, err, status = h.run(tool .. " trimmed " .. dir .. "/trimmed.h " .. dir .. "/names")
    assert.are.equal(0, status, out .. err)
    local rc, types = out:match("^(%-?%d+) (%d+)")
    local decls = {}
    if rc == "1" then
      for block in (read(dir .. "/trimmed.h") .. "\n\n"):gmatch("(.-)\n\n") do
        block = block:gsub("#[^\n]*\n?", ""):gsub("^\n+", ""):gsub("\n+$", "")
        if block ~= "" then
          decls[#decls + 1] = block
        end
      end
    end
    return tonumber(rc), tonumber(types), decls
  end

  -- Every declaration is the full header's; a forward declaration stands for a definition
  -- there.
  local function assert_as_in_full(decls)
    for _, decl in ipairs(decls) do
      local kind, tag = decl:match("^(%a+) [%w_]+;$"), decl:match("^(%a+ [%w_]+);$")
      if kind == "struct" or kind == "union" or kind == "enum" then
        assert.is_truthy(full:find("\n" .. tag .. " {", 1, true) or full:find("\n" .. decl, 1, true), decl)
      else
        assert.is_truthy(full:find(decl, 1, true), "not in the full vmlinux.h:\n" .. decl)
      end
    end
  end

  it("declares what a program names as the full header does, and far less of it", function()
    local rc, types, decls = trimmed({"task_struct", "pt_regs", "mm_struct", "file", "dentry",
      "sock", "sk_buff", "u32", "u64", "TASK_COMM_LEN", "BPF_ANY"})
    assert.are.equal(1, rc)
    assert.is_true(types >= 11)
    assert.is_true(#decls > 20)
    assert_as_in_full(decls)
    local size = #read(dir .. "/trimmed.h")
    assert.is_true(size < #full / 10, size .. " bytes")
    assert.matches("\nstruct task_struct {\n", read(dir .. "/trimmed.h"), 1, true)
  end)

  it("names every type that shares its name as the full header does", function()
    local shared, seen = {}, {}
    for name in full:gmatch("\n[%a ]-([%a_][%w_]-)___%d+ {") do
      seen[name] = true
    end
    for name in full:gmatch("\ntypedef [^\n]- ([%a_][%w_]-)___%d+;") do
      seen[name] = true
    end
    for name in pairs(seen) do
      shared[#shared + 1] = name
    end
    table.sort(shared)
    assert.is_true(#shared > 0, "this kernel has no types that share a name")
    local rc, _, decls = trimmed(shared)
    assert.are.equal(1, rc)
    assert_as_in_full(decls)
    for _, name in ipairs(shared) do
      assert.is_truthy(read(dir .. "/trimmed.h"):find(name .. "___2", 1, true), name)
    end
  end)

  it("names a type that shares its name as the full header does when it comes alone", function()
    -- A struct that holds (or points to) the second of two types of one name, and not the
    -- first: written by itself, btf_dump would give the second the plain name.
    local tried = 0
    for holder, body in full:gmatch("\nstruct ([%a_][%w_]*) {\n(.-)\n};") do
      local second = body:match("([%a_][%w_]-)___2[ ;*]")
      if second and not body:find("[^%w_]" .. second .. "[ ;*]") and not holder:find("___", 1, true) then
        local rc, _, decls = trimmed({holder})
        assert.are.equal(1, rc, holder)
        assert_as_in_full(decls)
        assert.is_truthy(read(dir .. "/trimmed.h"):find(second .. "___2", 1, true), holder)
        tried = tried + 1
        if tried == 5 then
          break
        end
      end
    end
    assert.is_true(tried > 0, "no struct of this kernel holds a second type of a shared name")
  end)

  it("is not written when it would hold an enumerator whose name the kernel uses twice", function()
    local name = full:match("\n\t([%a_][%w_]-)___2 = ")
    assert.is_not_nil(name, "this kernel has no enumerator whose name it uses twice")
    assert.are.equal(0, (trimmed({name})))
  end)
end)
