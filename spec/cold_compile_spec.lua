-- The first compile on a kernel whose prelude is not built yet (an empty cache): it compiles
-- against a vmlinux.h trimmed to the kernel types the program names and builds the prelude in
-- the background; what it answers is what a compile against the prelude answers: the same
-- instructions, the same errors, and the full prelude where a trimmed header cannot serve.
local h = require("spec.helpers")

local function remove_cache(dir)
  h.wait_for_prelude(dir)
  os.execute("rm -rf " .. dir)
end

-- Compiles the C in source in a bpflua host whose cache is dir, with debug output (which says
-- how the compile went); returns "compiled" or the error, and the host's stderr.
local compile_script = [[
  local f = assert(io.open(arg[1]))
  local source = f:read("*a")
  f:close()
  local ok, b = pcall(require("bpflua"), {text = source, debug = true})
  print(ok and "compiled" or b)
]]

local function compile_in(dir, source)
  local script, src = os.tmpname(), os.tmpname()
  h.write_file(script, compile_script)
  h.write_file(src, source)
  local out, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua " .. script .. " " .. src)
  os.remove(script)
  os.remove(src)
  assert.are.equal(0, status, err)
  return (out:gsub("\n$", "")), err
end

local TRIMMED = "no prelude for this kernel yet: compiled against %d+ kernel types the program names"

-- The instructions and relocations of the object cached under the one entry of dir whose
-- name is entry (or the only one when entry is nil), as llvm-objdump prints them.
local function disassembly(dir, entry)
  entry = entry or (h.run("cd " .. dir .. " && ls object-*.entry")):gsub("\n$", "")
  assert.matches("^object%-%x+%.entry$", entry)
  local f = assert(io.open(dir .. "/" .. entry, "rb"))
  local data = f:read("*a")
  f:close()
  local elf = assert(data:match("\nobject %d+\n(.*)$"))
  local path = os.tmpname()
  h.write_file(path, elf)
  local out, err, status = h.run("llvm-objdump-14 -d -r " .. path .. " | tail -n +3")
  os.remove(path)
  assert.are.equal(0, status, err)
  return out, entry
end

describe("a first compile on a kernel without its prelude", function()
  local prepared -- a cache that bpflua --prepare made ready: compiles there use the PCH

  setup(function()
    assert(h.require_bpf())
    prepared = h.private_cache_dir()
    local _, err, status = h.run("BPFLUA_CACHE_DIR=" .. prepared .. " bpflua --prepare")
    assert.are.equal(0, status, err)
  end)

  teardown(function()
    os.execute("rm -rf " .. prepared)
  end)

  it("compiles against the kernel types the program names, loads, and reads real events", function()
    local dir = h.private_cache_dir()
    local who = 4000 + h.unique() % 1000
    local script = os.tmpname()
    h.write_file(script, [[
      local ffi = require("ffi")
      ffi.cdef("int getpriority(int which, int who); int getpid(void);")
      local BPF = require("bpflua")
      local b = BPF{text = [=[
        struct event { u32 who; u32 tgid; u64 start_stack; };
        BPF_RINGBUF_OUTPUT(events, 8);
        TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
          if (args->who != WHO) return 0;
          struct task_struct *t = (struct task_struct *)bpf_get_current_task();
          struct event e = {.who = args->who, .tgid = t->tgid};
          e.start_stack = t->mm->start_stack; /* through a pointer to a type not named */
          events.ringbuf_output(&e, sizeof(e), 0);
          return 0;
        }
      ]=], cflags = {"-DWHO=]] .. who .. [["}, debug = true}
      local seen
      b["events"]:open_ring_buffer(function(_, data)
        local e = b["events"]:event(data)
        seen = string.format("%d %d %s", e.who, e.tgid, e.start_stack ~= 0)
      end)
      for _ = 1, 50 do
        ffi.C.getpriority(0, ]] .. who .. [[)
        b:ring_buffer_poll(100)
        if seen then break end
      end
      print(b.cache_hit, seen, ffi.C.getpid())
    ]])
    local out, err, status = h.run("BPFLUA_CACHE_DIR=" .. dir .. " bpflua " .. script)
    os.remove(script)
    assert.are.equal(0, status, err)
    assert.matches(TRIMMED, err)
    local pid = out:match("^false\t%d+ %d+ true\t(%d+)\n$")
    assert.is_not_nil(pid, out)
    assert.are.equal("false\t" .. who .. " " .. pid .. " true\t" .. pid .. "\n", out)

    -- The prelude is built meanwhile, and the next new program compiles against it.
    h.wait_for_prelude(dir)
    local files = h.run("cd " .. dir .. " && find . -type f -name '*.h' -o -type f -name '*.pch' | sort")
    assert.matches("^%./kernel%-%x+/vmlinux%.h\n%./prelude%-%x+%.h\n%./prelude%-%x+%.pch\n$", files)
    assert.are.equal("", (h.run("cd " .. dir .. " && ls -d work-* 2>/dev/null")))
    local result, err2 = compile_in(dir, "BPF_HASH(after_" .. h.unique() .. ", u32, u64);")
    assert.are.equal("compiled", result)
    assert.is_nil(err2:match(TRIMMED))
    remove_cache(dir)
  end)

  it("compiles to the instructions and relocations that the prelude's compile makes", function()
    local source = [[
      #include <linux/sched.h>
      BPF_HASH(starts, u32, u64);
      int cold_compile_]] .. h.unique() .. [[(struct pt_regs *ctx) {
        struct task_struct *t = (struct task_struct *)bpf_get_current_task();
        u32 tgid = t->tgid;
        u64 start = t->real_parent->start_time + t->mm->arg_start;
        starts.update(&tgid, &start);
        return 0;
      }
    ]]
    local dir = h.private_cache_dir()
    local result, err = compile_in(dir, source)
    assert.are.equal("compiled", result)
    assert.matches(TRIMMED, err)
    local cold, entry = disassembly(dir)
    remove_cache(dir)
    result, err = compile_in(prepared, source)
    assert.are.equal("compiled", result)
    assert.is_nil(err:match(TRIMMED))
    assert.are.equal(cold, (disassembly(prepared, entry)))
    assert.matches("call", cold)
  end)

  it("compiles against the full prelude what a trimmed header cannot serve, to the same result", function()
    -- An enumerator whose name the kernel gives two (btf_dump calls one NAME___2): a trimmed
    -- header is not used then.
    local vmlinux = (h.run("ls " .. prepared .. "/kernel-*/vmlinux.h")):gsub("\n$", "")
    local shared = (h.run("grep -m1 -oE '^\t[A-Za-z_][A-Za-z0-9_]*___2 = ' " .. vmlinux))
      :match("^\t([%w_]+)___2 = ")
    assert.is_not_nil(shared, "this kernel has no enumerator whose name it uses twice")
    -- And a program that asks for vmlinux.h, which only the prelude includes.
    local sources = {
      ["the kernel uses the enumerator's name twice"] = "BPF_ARRAY(values, u64, 1);\n" ..
        "int f_" .. h.unique() .. "(void *ctx) { u32 k = 0; u64 v = " .. shared .. ";\n" ..
        "  values.update(&k, &v); return 0; }\n",
      ["the unit names vmlinux.h"] = "#if __has_include(<vmlinux.h>)\n#error vmlinux.h found\n" ..
        "#endif\nBPF_HASH(has_include_" .. h.unique() .. ", u32, u64);\n",
    }
    for why, source in pairs(sources) do
      local dir = h.private_cache_dir()
      local result, err = compile_in(dir, source)
      assert.are.equal("compiled", result, why)
      assert.is_nil(err:match(TRIMMED), why)
      assert.is_truthy(err:find("compiling against the full prelude", 1, true), why)
      local cold, entry = disassembly(dir)
      remove_cache(dir)
      assert.are.equal("compiled", (compile_in(prepared, source)))
      assert.are.equal(cold, (disassembly(prepared, entry)), why)
    end
  end)

  it("lends its priority to the background builder of the prelude it must wait for", function()
    -- A compile that needs the prelude waits for whoever builds it. The background builder
    -- runs at nice 19 and records its process group in the lock file; here a process of
    -- that nice holds the lock the same way, and bpflua --prepare (which needs the prelude)
    -- must raise it to its own priority rather than wait behind everything else.
    local dir = h.private_cache_dir()
    assert.are.equal("compiled", (compile_in(dir, "BPF_ARRAY(lend_" .. h.unique() .. ", u64, 1);\n")))
    h.wait_for_prelude(dir)
    os.execute("rm -f " .. dir .. "/prelude-*")
    local out = h.run(string.format([[
      lock=$(ls -d %s/kernel-*)/prelude.lock
      : > "$lock" # the cold run's builder recorded itself there
      setsid nice -n 19 flock "$lock" sh -c 'ps -o pgid= -p $$ | tr -d " " > "$0"; exec sleep 60' "$lock" &
      for i in $(seq 1 200); do [ -s "$lock" ] && break; sleep 0.05; done
      group=$(cat "$lock")
      echo "before=$(ps -o ni= -p "$group" | tr -d ' ')"
      BPFLUA_CACHE_DIR=%s timeout 120 bpflua --prepare >/dev/null 2>&1 & prepare=$!
      for i in $(seq 1 400); do [ "$(ps -o ni= -p "$group" | tr -d ' ')" = 19 ] || break; sleep 0.05; done
      echo "after=$(ps -o ni= -p "$group" | tr -d ' ') ours=$(ps -o ni= -p $$ | tr -d ' ')"
      kill -- -"$group"
      wait $prepare; echo "prepare=$?"
    ]], dir, dir))
    remove_cache(dir)
    assert.matches("before=19\n", out)
    local after, ours = out:match("after=(%-?%d+) ours=(%-?%d+)")
    assert.are.equal(ours, after, out)
    assert.matches("prepare=0\n", out)
  end)

  it("gives the errors that the prelude's compile gives, word for word", function()
    local sources = {
      "int f(void *ctx) {\n  struct task_struct *t = (void *)bpf_get_current_task();\n" ..
        "  return t->no_such_member;\n}\n",
      "int f(void *ctx) {\n  struct no_such_kernel_type x;\n  return sizeof(x);\n}\n",
      "int f(void *ctx) {\n  struct task_struct *t = (void *)bpf_get_current_task();\n" ..
        "  return t->mm->no_such_member + undeclared_name;\n}\n",
      "#include <vmlinux.h>\nint f(void *ctx) { return 0; }\n",
    }
    for _, source in ipairs(sources) do
      local dir = h.private_cache_dir()
      local cold = compile_in(dir, source)
      remove_cache(dir)
      local warm = compile_in(prepared, source)
      assert.matches("^<text>:%d+:%d+: error: ", warm)
      assert.are.equal(warm, cold)
    end
  end)
end)
