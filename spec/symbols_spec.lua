-- Symbols of real processes this spec starts (spec/symbols/): user stacks taken by a BPF
-- program at their getpriority(0, WHO) syscalls, named through BPF.sym: demangled C++ and
-- Rust names, a stripped library's static function from its separate debug file (build id,
-- .gnu_debuglink), code in anonymous memory from the process's perf map; and kernel symbols
-- with their module.
local BPF = require("bpflua")
local h = require("spec.helpers")

local sources = debug.getinfo(1, "S").source:match("^@(.-)[^/]*$") .. "symbols/"

-- A getpriority() argument no other spec uses: the probe below sees every process's calls.
local calls = 0
local function unique_who()
  calls = calls + 1
  return 7000000 + (h.getpid() % 100000) * 10 + calls
end

local function sh(command)
  local out, err, status = h.run(command)
  assert(status == 0, command .. " failed (" .. tostring(status) .. "):\n" .. out .. err)
  return out
end

-- Starts command in the background; returns its pid and, when ready (a pattern) is given, the
-- line of its output that matches it (command redirects its output itself when it prints
-- nothing).
local function start(command, ready)
  local p = assert(io.popen(command .. " & echo pid $!"))
  local pid, line
  for text in p:lines() do
    pid = pid or tonumber(text:match("^pid (%d+)$"))
    line = line or (ready and text:find(ready) and text)
    if pid and (line or not ready) then
      break
    end
  end
  p:close()
  return assert(pid, "no pid from " .. command), line
end

local function stop(pid)
  os.execute("kill " .. pid .. " 2>/dev/null")
end

-- A probe on getpriority(0, who) in any process, sending the caller's tgid and user stack id.
local function stack_probe(who)
  return BPF{text = [[
    struct hit { u32 tgid; int user_stack; };
    BPF_STACK_TRACE(stacks, 64);
    BPF_RINGBUF_OUTPUT(hits, 8);
    TRACEPOINT_PROBE(syscalls, sys_enter_getpriority) {
      if (args->who != WHO)
        return 0;
      struct hit e = {};
      e.tgid = bpf_get_current_pid_tgid() >> 32;
      e.user_stack = stacks.get_stackid(args, BPF_F_USER_STACK);
      hits.ringbuf_output(&e, sizeof(e), 0);
      return 0;
    }
  ]], cflags = {"-DWHO=" .. who}}
end

-- The return addresses of the first user stack that process pid's getpriority(0, who) gave
-- (any process's when pid is nil: who is this spec's own), and that process's pid.
local function user_stack(b, pid)
  local id, tgid
  local hits = b["hits"]
  hits:open_ring_buffer(function(_, data)
    local e = hits:event(data)
    if (e.tgid == pid or not pid) and not id then
      id, tgid = e.user_stack, e.tgid
    end
  end)
  local deadline = os.time() + 20
  while not id and os.time() < deadline do
    b:ring_buffer_poll(200)
  end
  assert(id, "no getpriority() from process " .. tostring(pid))
  assert(id >= 0, "get_stackid failed: " .. tostring(id))
  local frames = {}
  for addr in b["stacks"]:walk(id) do
    frames[#frames + 1] = addr
  end
  return frames, tgid
end

local function names(frames, pid, ...)
  local list = {}
  for i, addr in ipairs(frames) do
    list[i] = BPF.sym(addr, pid, ...)
  end
  return list
end

describe("symbols", function()
  local dir

  setup(function()
    assert(h.require_bpf())
    dir = h.tmpdir()
  end)

  teardown(function()
    if dir then
      os.execute("rm -rf " .. dir)
    end
  end)

  it("demangle C++ and Rust names in a process's user stack, or keep them mangled", function()
    local program = dir .. "/names"
    sh(string.format("g++ -O0 -fno-omit-frame-pointer -o %s %snames.cpp", program, sources))
    local who = unique_who()
    local b = stack_probe(who)
    local pid = start(string.format("%s %d >/dev/null", program, who))
    finally(function()
      stop(pid)
      b:cleanup()
    end)
    local frames = user_stack(b, pid)
    assert.are.same({"ns::Klass::method(int)", "ns::Holder<long>::call(long)",
                     "mycrate::module::work", "mycrate::module::legacy", "main"},
                    {unpack(names(frames, pid), 1, 5)})
    assert.are.same({"_ZN2ns5Klass6methodEi", "_ZN2ns6HolderIlE4callEl",
                     "_RNvNtCs1234_7mycrate6module4work",
                     "_ZN7mycrate6module6legacy17h0123456789abcdefE", "main"},
                    {unpack(names(frames, pid, false, false, false), 1, 5)})
    -- Modules by their file's name, as bcc; the full path when asked.
    assert.matches("^ns::Klass::method%(int%)%+0x%x+ %[names%]$", BPF.sym(frames[1], pid, true, true))
    assert.are.equal("ns::Klass::method(int) [" .. program .. "]",
                     BPF.sym(frames[1], pid, {module = true, full_path = true}))
    assert.are.equal("_ZN2ns5Klass6methodEi [names]",
                     BPF.sym(frames[1], pid, {module = true, demangle = false}))
    -- Process-wide defaults, for tools that call sym() themselves.
    local previous = BPF.symbol_options{demangle = false, full_path = true}
    finally(function() BPF.symbol_options(previous) end)
    assert.are.equal("_ZN2ns5Klass6methodEi [" .. program .. "]", b:sym(frames[1], pid, true))
    BPF.symbol_options(previous)
    assert.are.equal("ns::Klass::method(int) [names]", b:sym(frames[1], pid, true))
    -- symbol_options{} changes nothing and tells what is set.
    assert.are.same({demangle = true, full_path = false}, BPF.symbol_options{})
  end)

  it("reject unknown symbol options", function()
    local ok, err = pcall(BPF.symbol_options, {demangled = false})
    assert.is_false(ok)
    assert.matches("unknown option 'demangled'", err, 1, true)
    ok, err = pcall(BPF.symbol_options, "demangle")
    assert.is_false(ok)
    assert.matches("symbol_options: expected a table", err, 1, true)
  end)

  -- Builds a copy of hidden.c as library name in dir (with a build id or not), keeps its
  -- debug information in name.debug, strips the library and, when link, points its
  -- .gnu_debuglink at name.debug. Returns the library's path, the debug file's and the build id.
  local function stripped_library(name, build_id, link)
    local library = dir .. "/" .. name
    local debug_file = library .. ".debug"
    -- (the soname makes each copy's build id its own)
    sh(string.format("gcc -O0 -fno-omit-frame-pointer -fPIC -shared -Wl,-soname,%s -Wl,--build-id=%s -o %s %shidden.c",
      name, build_id and "sha1" or "none", library, sources))
    sh(string.format("objcopy --only-keep-debug %s %s && strip %s", library, debug_file, library))
    if link then
      sh(string.format("cd %s && objcopy --add-gnu-debuglink=%s.debug %s", dir, name, name))
    end
    local id = build_id and sh("readelf -n " .. library):match("Build ID: (%x+)")
    assert.is_falsy(sh("readelf -s " .. library):find("hidden_work", 1, true))
    return library, debug_file, id
  end

  -- The names of the innermost two frames of the caller running library.
  local function library_frames(library)
    local caller = dir .. "/caller"
    local f = io.open(caller)
    if f then
      f:close()
    else
      sh(string.format("gcc -O1 -o %s %scaller.c -ldl", caller, sources))
    end
    local who = unique_who()
    local b = stack_probe(who)
    local pid = start(string.format("%s %s %d >/dev/null", caller, library, who))
    local ok, frames = pcall(user_stack, b, pid)
    local result = ok and {BPF.sym(frames[1], pid, true), BPF.sym(frames[2], pid)}
    stop(pid)
    b:cleanup()
    assert(ok, frames)
    return result
  end

  local function exists(path)
    return os.execute("test -e " .. path) == 0
  end

  -- Copies from to to, making the directories it needs; returns a function that removes the
  -- copy and the directories it made, and nothing else.
  local function install(from, to)
    local made = {}
    local parent = to:match("^(.*)/")
    while not exists(parent) do
      table.insert(made, parent)
      parent = parent:match("^(.*)/")
    end
    sh(string.format("mkdir -p %s && cp %s %s", to:match("^(.*)/"), from, to))
    return function()
      os.remove(to)
      for _, d in ipairs(made) do
        os.remove(d)
      end
    end
  end

  it("name a stripped library's static function from the debug file its build id names", function()
    local library, debug_file, id = stripped_library("libbuildid.so", true, false)
    -- Without a debug file the static function has no name; its exported caller has one.
    assert.are.same({"[unknown] [libbuildid.so]", "hidden_entry"}, library_frames(library))

    local copy, copy_debug, copy_id = stripped_library("libbuildid2.so", true, false)
    assert.are_not.equal(id, copy_id)
    local installed = string.format("/usr/lib/debug/.build-id/%s/%s.debug", copy_id:sub(1, 2), copy_id:sub(3))
    finally(install(copy_debug, installed))
    assert.are.same({"hidden_work [libbuildid2.so]", "hidden_entry"}, library_frames(copy))
    assert.truthy(debug_file)
  end)

  it("find the debug file a stripped library's .gnu_debuglink names, beside it and under /usr/lib/debug", function()
    -- In the .debug directory beside the library.
    local library, debug_file = stripped_library("liblinked.so", false, true)
    install(debug_file, dir .. "/.debug/liblinked.so.debug")
    os.remove(debug_file)
    assert.are.same({"hidden_work [liblinked.so]", "hidden_entry"}, library_frames(library))

    -- Under /usr/lib/debug, in the library's own directory's path.
    local other, other_debug = stripped_library("liblinked2.so", false, true)
    local installed = "/usr/lib/debug" .. dir .. "/liblinked2.so.debug"
    finally(install(other_debug, installed))
    os.remove(other_debug)
    assert.are.same({"hidden_work [liblinked2.so]", "hidden_entry"}, library_frames(other))

    -- A debug file whose CRC is not the one the link records is someone else's: not used.
    local stale, stale_debug = stripped_library("liblinked3.so", false, true)
    sh("echo >> " .. stale_debug)
    assert.are.same({"[unknown] [liblinked3.so]", "hidden_entry"}, library_frames(stale))
  end)

  it("name libc's memcpy variant from libc6-dbg's debug file, as bcc does", function()
    -- memcpy is an IFUNC: the address the dynamic linker binds is one of libc's static
    -- variants (__memcpy_avx_unaligned_erms...), named only in the separate debug file.
    assert(io.open("/usr/lib/debug/.build-id"), "libc6-dbg is not installed (scripts/setup.sh)")
    local ffi = require("ffi")
    pcall(ffi.cdef, "void *dlsym(void *handle, const char *name);") -- once per process
    local memcpy = tonumber(ffi.cast("uintptr_t", ffi.C.dlsym(nil, "memcpy")))
    assert.matches("^__memcpy_[%w_]+%+0x0 %[libc%.so%.6%]$", BPF.sym(memcpy, h.getpid(), true, true))
  end)

  it("name the vDSO's functions, which no file holds, in this process and another", function()
    local ffi = require("ffi")
    pcall(ffi.cdef, "void *dlopen(const char *file, int mode); void *dlsym(void *handle, const char *name);")
    local RTLD_LAZY_NOLOAD = 5
    local vdso = ffi.C.dlopen("linux-vdso.so.1", RTLD_LAZY_NOLOAD)
    assert(vdso ~= nil, "no vDSO in this process")
    local clock_gettime = tonumber(ffi.cast("uintptr_t", ffi.C.dlsym(vdso, "__vdso_clock_gettime")))
    local function vdso_start(pid)
      for line in io.lines("/proc/" .. pid .. "/maps") do
        local from = line:match("^(%x+)%-%x+ .*%[vdso%]$")
        if from then
          return tonumber(from, 16)
        end
      end
    end
    local name = BPF.sym(clock_gettime, h.getpid(), true, true)
    -- (two names, aliases, share the address)
    assert.is_true(name == "__vdso_clock_gettime+0x0 [vdso]" or name == "clock_gettime+0x0 [vdso]", name)
    -- Another process has the same image at its own address.
    local pid = start("sleep 20 >/dev/null")
    finally(function() stop(pid) end)
    -- until it has exec'd sleep: the shell's child before that has a vDSO elsewhere
    local comm
    for _ = 1, 500 do
      local f = io.open("/proc/" .. pid .. "/comm")
      comm = f and f:read("*l")
      if f then
        f:close()
      end
      if comm == "sleep" then
        break
      end
      os.execute("sleep 0.01")
    end
    assert.are.equal("sleep", comm)
    local theirs = vdso_start(pid) + clock_gettime - vdso_start(h.getpid())
    assert.are.equal(name, BPF.sym(theirs, pid, true, true))
    assert.are.equal((name:gsub("%+0x0", "+0x4")), BPF.sym(theirs + 4, pid, true, true))
  end)

  it("name code in anonymous memory from the process's perf map, as JITs write it", function()
    local who = unique_who()
    local b = stack_probe(who)
    local pid, text = start(string.format("luajit %sjit_process.lua %d", sources, who), "^ready ")
    local map = string.format("/tmp/perf-%d.map", pid)
    finally(function()
      stop(pid)
      os.remove(map)
      b:cleanup()
    end)
    local page, fn = (text or ""):match("ready (0x%x+) (0x%x+)")
    assert(page, "the JIT process did not start")
    local frames = user_stack(b, pid)
    assert.are.equal("jitted_getpriority_" .. who, BPF.sym(frames[1], pid))
    assert.are.equal(string.format("jitted_getpriority_%d+0x%x [perf-%d.map]", who,
      tonumber(frames[1]) - tonumber(fn), pid), BPF.sym(frames[1], pid, true, true))
    -- The start of the page is in no function the map names.
    assert.are.equal("[unknown]", BPF.sym(tonumber(page), pid, true))
  end)

  it("find a containerized JIT's perf map under its root, named by its pid in its namespace", function()
    -- The JIT runs as pid 1 of a pid namespace of its own, with a /tmp of its own (a tmpfs in
    -- a mount namespace of its own): its map is /tmp/perf-1.map there, and nowhere here.
    local who = unique_who()
    local b = stack_probe(who)
    local launcher, text = start(string.format("exec 3< %sjit_process.lua; " ..
      "unshare --pid --fork --mount sh -c 'mount -t tmpfs none /tmp && exec luajit - %d <&3' 2>/dev/null",
      sources, who),
      "^ready ")
    local pid
    finally(function()
      if pid then
        -- (the namespace's init ignores the signals it has no handler for)
        os.execute("kill -9 " .. pid .. " 2>/dev/null")
      end
      stop(launcher)
      b:cleanup()
    end)
    assert.is_truthy(text, "the JIT process did not start")
    local frames
    frames, pid = user_stack(b)
    assert.are_not.equal(launcher, pid)
    assert.is_nil(io.open(string.format("/tmp/perf-%d.map", pid))) -- not under our /tmp
    assert.are.equal("jitted_getpriority_" .. who .. " [perf-1.map]", BPF.sym(frames[1], pid, true))
  end)

  it("give kernel symbols their module: [bpf] for a BPF program, [kernel] for the kernel's own", function()
    local b = h.probe("", "bpf_get_current_pid_tgid();")
    finally(function() b:cleanup() end)
    -- The program's name in /proc/kallsyms (bpf_jit_kallsyms): bpf_prog_TAG_NAME, with the
    -- tag of a program this process holds (others' programs come and go meanwhile).
    local ours = {}
    local ls = io.popen("ls /proc/" .. h.getpid() .. "/fd")
    for fd in ls:lines() do
      local f = io.open("/proc/" .. h.getpid() .. "/fdinfo/" .. fd)
      local tag = f and f:read("*a"):match("prog_tag:%s*(%x+)")
      if f then
        f:close()
      end
      if tag then
        ours[tag] = true
      end
    end
    ls:close()
    local name
    for line in io.lines("/proc/kallsyms") do
      local found, tag = line:match("^%x+ t (bpf_prog_(%x+)_tracepoint__syscalls__sys_enter_getpriority)%s+%[bpf%]")
      if found and ours[tag] then
        name = found
      end
    end
    assert(name, "no [bpf] symbol for the program in /proc/kallsyms")
    local addr = BPF.ksymname(name)
    assert.are_not.equal(-1, addr)
    assert.are.equal(name .. " [bpf]", BPF.ksym(addr, true))
    assert.are.equal("do_syscall_64 [kernel]", BPF.ksym(BPF.ksymname("do_syscall_64"), true))
  end)
end)
