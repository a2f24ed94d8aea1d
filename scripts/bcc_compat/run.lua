-- The bcc compatibility runner: how much of bcc's own tools bpflua runs unchanged.
--
--   bpflua scripts/bcc_compat/run.lua [-j N] [-t tool,tool] [--bcc-dir DIR] [--cache DIR]
--                                     [--generate-only] [--vm]
--
-- For each bcc tool installed by Debian's bpfcc-tools (/usr/sbin/*-bpfcc), it runs the
-- tool's own Python with default options (tools.lua gives arguments to those that need
-- some, and targets.lua the processes the language tools trace, which the runner starts
-- and stops; install_targets.sh installs their runtimes) and a stand-in `bcc` module
-- (standin/bcc) that records the C the tool hands to BPF(text=...) and its attach calls
-- instead of compiling. Then it compiles that C with
-- bpflua, loads every program and attaches each recorded probe where this kernel allows,
-- and prints one row per tool and a summary line. No bcc code is kept in this tree: the
-- tools are read from the installed package each run.
--
-- The records are cached (--cache, default $BPFLUA_CACHE_DIR/bcc_compat or
-- /var/cache/bpflua/bcc_compat), keyed by the tool's file, its arguments, the stand-in and
-- the kernel; bpflua's object cache keeps the compiled objects. Tools run -j at a time
-- (default 2), each compiled and loaded in a process of its own so that a compiler crash
-- costs one row. --vm does the checks inside scripts/vmtest.sh's 6.1 kernel (kprobes);
-- $BCC_COMPAT_VMTEST names another copy of vmtest.sh.
local function absolute(path)
  if path:sub(1, 1) == "/" then
    return path
  end
  local p = io.popen("pwd")
  local cwd = p:read("*l")
  p:close()
  return cwd .. "/" .. path
end
local here = absolute(arg[0]:match("^(.*)/[^/]*$") or ".")
local repo = here .. "/../.."

local function usage(status)
  io.stderr:write([[
usage: run.lua [-j N] [-t tool,tool,...] [--bcc-dir DIR] [--cache DIR] [--generate-only] [--vm]
  -j N             tools checked at once (default 2)
  -t LIST          only these tools (names without -bpfcc)
  --bcc-dir DIR    where the *-bpfcc tools are (default /usr/sbin)
  --cache DIR      where generated programs are kept between runs
  --generate-only  record the tools' programs and stop
  --vm             check in the 6.1 kernel of scripts/vmtest.sh instead of natively
]])
  os.exit(status)
end

---------------------------------------------------------------------------------------------
-- Small helpers

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local data = f:read("*a")
  f:close()
  return data
end

local function write_file(path, data)
  local f = assert(io.open(path, "wb"))
  f:write(data)
  f:close()
end

local function command_output(cmd)
  local p = assert(io.popen(cmd))
  local out = p:read("*a")
  p:close()
  return out
end

local function exists(path)
  return os.execute("test -e " .. shell_quote(path)) == 0
end

local function lines(text)
  local t = {}
  for line in (text or ""):gmatch("[^\n]+") do
    t[#t + 1] = line
  end
  return t
end

-- The first line that says what went wrong, without positions and with spaces squeezed.
-- What the usual verifier complaints about bcc programs mean, for the summary.
local HINTS = {
  {"!read_ok", "a probe function's argument after ctx is read (bcc maps them to registers)"},
  {"invalid mem access 'scalar'", "kernel memory dereferenced without bpf_probe_read (bcc rewrites such reads)"},
  {"min value is outside of the allowed memory range", "kernel memory dereferenced without bpf_probe_read (bcc rewrites such reads)"},
  {"implicit declaration of function", "a kernel or bcc function bpflua does not define"},
}

local function hint_of(reason)
  for _, h in ipairs(HINTS) do
    if reason:find(h[1], 1, true) then
      return h[2]
    end
  end
end

local function reason_of(message)
  message = tostring(message or ""):gsub("^[^\n]-%.lua:%d+: ", "")
  if message:find("verifier rejected", 1, true) then
    -- The verifier's own last words say what is wrong; the first line only names the program.
    local log = lines(message)
    local last = log[#log] or ""
    for i = #log, 2, -1 do
      if not log[i]:match("^processed ") and not log[i]:match("^%s*$") and not log[i]:match("^%(") then
        last = log[i]
        break
      end
    end
    return ("verifier: " .. last:gsub("^%d+: ", ""):gsub("%s+", " ")):sub(1, 160)
  end
  local line = message:match("[^\n]*error: [^\n]*") or message:match("[^\n]+") or message
  line = line:gsub("^.-error: ", ""):gsub("^<[^>]*>:%d+:%d+: ", ""):gsub("%s+", " ")
  return line:sub(1, 160)
end

---------------------------------------------------------------------------------------------
-- Options

local opts = {jobs = 2, bcc_dir = "/usr/sbin", only = nil, mode = "all"}
do
  local i = 1
  while i <= #arg do
    local a = arg[i]
    if a == "-j" then
      i = i + 1
      opts.jobs = tonumber(arg[i]) or usage(2)
    elseif a == "-t" then
      i = i + 1
      opts.only = {}
      for name in (arg[i] or usage(2)):gmatch("[^,%s]+") do
        opts.only[name] = true
      end
    elseif a == "--bcc-dir" then
      i = i + 1
      opts.bcc_dir = arg[i] or usage(2)
    elseif a == "--cache" then
      i = i + 1
      opts.cache = arg[i] or usage(2)
    elseif a == "--generate-only" then
      opts.mode = "generate"
    elseif a == "--vm" then
      opts.vm = true
    elseif a == "--job-generate" or a == "--job-check" then
      opts.job = a:sub(7)
      i = i + 1
      opts.tool = arg[i] or usage(2)
    elseif a == "-h" or a == "--help" then
      usage(0)
    else
      usage(2)
    end
    i = i + 1
  end
end
opts.cache = opts.cache or os.getenv("BCC_COMPAT_CACHE") or
  ((os.getenv("BPFLUA_CACHE_DIR") or "/var/cache/bpflua") .. "/bcc_compat")

local tools_table = dofile(here .. "/tools.lua")
local targets_table = dofile(here .. "/targets.lua")
local standin = here .. "/standin"

-- Records are kept per kernel: a tool builds its text from what the kernel it runs on has
-- (kallsyms, tracepoints, BTF), and --vm generates them in the VM's kernel.
local release
local function record_dir(tool)
  release = release or command_output("uname -r"):match("%S+")
  return opts.cache .. "/records/" .. release .. "/" .. tool
end

local function tool_path(tool)
  return opts.bcc_dir .. "/" .. tool .. "-bpfcc"
end

---------------------------------------------------------------------------------------------
-- Generating: run the tool with the stand-in bcc module and keep what it recorded.

-- {pid:NAME} is the pid of the target process NAME (targets.lua), the others are set by the
-- script that runs the jobs.
local function fill_placeholders(args)
  local out = {}
  for i, a in ipairs(args or {}) do
    out[i] = a:gsub("{(%w+):?(%w*)}", function(name, target)
      return os.getenv("BCC_COMPAT_" .. name:upper() .. (target ~= "" and ("_" .. target:upper()) or "")) or ""
    end)
  end
  return out
end

-- The targets a tool needs: those its arguments name ({pid:NAME} a process, {exe:NAME} only
-- the executable) and its `targets` (processes). Returns the names, and for each "PID" or "EXE".
local function tool_targets(spec)
  local names, needs = {}, {}
  local function add(name, what)
    if not needs[name] then
      names[#names + 1] = name
    end
    if needs[name] ~= "PID" then
      needs[name] = what
    end
  end
  for _, a in ipairs(spec.args or {}) do
    for what, name in a:gmatch("{(%w+):(%w+)}") do
      add(name, what:upper())
    end
  end
  for _, name in ipairs(spec.targets or {}) do
    add(name, "PID")
  end
  return names, needs
end

-- What the record depends on: the tool, its arguments, the stand-in, the kernel and the
-- target processes it was given (a tool that finds its processes itself, as javastat does,
-- sees other ones each run).
local function generation_key(tool, args, targets)
  local pids = {}
  for i, name in ipairs(targets) do
    pids[i] = name .. "=" .. (os.getenv("BCC_COMPAT_PID_" .. name:upper()) or "")
  end
  local parts = {command_output("stat -L -c '%n %s %Y' " .. shell_quote(tool_path(tool)) .. " " ..
    shell_quote(standin .. "/bcc/__init__.py") .. " " .. shell_quote(standin .. "/sitecustomize.py") ..
    " 2>&1; uname -r"), table.concat(args, "\0"), os.getenv("BCC_COMPAT_KFUNC") or "",
    table.concat(pids, " ")}
  return table.concat(parts, "\n")
end

local function generate(tool)
  local spec = tools_table[tool] or {}
  local dir = record_dir(tool)
  if spec.skip then
    return
  end
  local args = fill_placeholders(spec.args)
  local targets, needs = tool_targets(spec)
  local key = generation_key(tool, args, targets)
  if read_file(dir .. "/key") == key and read_file(dir .. "/status") then
    return
  end
  os.execute("rm -rf " .. shell_quote(dir) .. " && mkdir -p " .. shell_quote(dir))
  -- A target that could not be started is the tool's reason (not cached: it may be there
  -- next run).
  for _, name in ipairs(targets) do
    if (os.getenv("BCC_COMPAT_" .. needs[name] .. "_" .. name:upper()) or "") == "" then
      write_file(dir .. "/status", "no target: " .. (os.getenv("BCC_COMPAT_ABSENT_" .. name:upper()) or
        ("the runner started no " .. name .. " process")) .. "\n")
      return
    end
  end
  local quoted = {shell_quote(tool_path(tool))}
  for _, a in ipairs(args) do
    quoted[#quoted + 1] = shell_quote(a)
  end
  local command = table.concat(quoted, " ")
  if spec.tty then
    command = "script -qec " .. shell_quote(command) .. " /dev/null"
  end
  os.execute(string.format(
    "cd %s && env BCC_COMPAT_OUT=%s PYTHONPATH=%s${PYTHONPATH:+:$PYTHONPATH} TERM=xterm " ..
    "timeout -s KILL 60 %s </dev/null >stdout 2>stderr",
    shell_quote(dir), shell_quote(dir), shell_quote(standin), command))
  write_file(dir .. "/key", key)
end

---------------------------------------------------------------------------------------------
-- Checking: compile, load and attach what a tool recorded, with bpflua.

local BPF, ffi, lib

local function has_kprobes()
  return exists("/sys/bus/event_source/devices/kprobe") or exists("/sys/kernel/tracing/kprobe_events")
end

-- Compiles alone first, so that a failure says which stage failed.
local function compile_only(text, cflags)
  local c_flags = ffi.new("const char *[?]", #cflags + 1)
  for i, f in ipairs(cflags) do
    c_flags[i - 1] = f
  end
  local copts = ffi.new("struct bpflua_compile_opts", {
    source = text, source_len = #text, source_name = "<text>", cflags = c_flags,
    ncflags = #cflags, debug = 0,
  })
  local err = ffi.new("char *[1]")
  local compiled = lib.bpflua_compile(copts, err)
  if compiled == nil then
    local message = err[0] ~= nil and ffi.string(err[0]) or "compile failed"
    lib.bpflua_free(err[0])
    return false, message
  end
  lib.bpflua_compiled_free(compiled)
  return true
end

local function parse_attach_line(line)
  local fields = {}
  local index, kind, rest = line:match("^(%d+)\t([%w_]+)\t?(.*)$")
  for k, v in rest:gmatch("([%w_]+)=([^\t]*)") do
    fields[k] = v
  end
  return tonumber(index), kind, fields
end

-- A file that no process maps: a uprobe on it makes a kprobe-type program load (the
-- verifier runs) without ever firing, where the kernel has no kprobes to attach to. It is
-- a copy of a real executable, as attach_uprobe takes only ELF files.
local function load_probe_target()
  local path = opts.cache .. "/never_executed"
  local elf = read_file(path)
  if not elf or elf:sub(1, 4) ~= "\127ELF" then
    write_file(path, assert(read_file("/bin/true") or read_file("/usr/bin/true")))
  end
  return path
end

-- Whether the kernel can put a kprobe on function fn: it lists the functions it can trace
-- (a function that is absent, inlined or notrace is not there). nil when it cannot say.
local traceable
local function kprobe_traceable(fn)
  if traceable == nil then
    local list = read_file("/sys/kernel/tracing/available_filter_functions") or
      read_file("/sys/kernel/debug/tracing/available_filter_functions")
    traceable = false
    if list then
      traceable = {}
      for name in list:gmatch("([^%s]+)[^\n]*\n") do
        traceable[name] = true
      end
    end
  end
  if not traceable then
    return nil
  end
  return traceable[fn] == true
end

-- A kprobe that could not attach because this kernel cannot trace its function says so:
-- that is the tool's choice of function, which bcc would fail the same way.
local function kprobe_failure(fn, err)
  if fn and kprobe_traceable(fn) == false then
    return "kernel function '" .. fn .. "' is not traceable on this kernel (not in " ..
      "available_filter_functions): " .. err
  end
  return err
end

local MAX_ATTACHES = 64 -- regular expressions can expand to thousands of functions

-- One attach record: returns loaded (the function passed the verifier), attached, reason.
local function try_attach(b, kind, f, no_kprobes)
  local fn = f.fn_name
  local function call(method, args)
    local ok, err = pcall(b[method], b, args)
    return ok, ok and nil or reason_of(err)
  end
  local function loaded_by(err)
    -- An attach that failed after the load tells us the function loaded.
    return err and not err:find("verifier", 1, true) and not err:find("cannot load", 1, true) and
      not err:find("no function named", 1, true)
  end
  if kind == "kprobe" or kind == "kretprobe" then
    if no_kprobes then
      local ok, err = call("attach_uprobe", {name = load_probe_target(), addr = 0, fn_name = fn})
      if ok then
        b:detach_uprobe{name = load_probe_target(), addr = 0}
      end
      return ok, false, ok and "this kernel has no kprobes" or err
    end
    local ok, err = call("attach_" .. kind, {event = f.event, fn_name = fn})
    return ok or loaded_by(err), ok, not ok and kprobe_failure(f.event, err) or nil
  elseif kind == "tracepoint" or kind == "raw_tracepoint" then
    local ok, err = call("attach_" .. kind, {tp = f.tp, fn_name = fn})
    return ok or loaded_by(err), ok, err
  elseif kind == "uprobe" or kind == "uretprobe" then
    -- The process the tool was pointed at ({pid}, or USDT's /proc/PID/root/...) is gone by
    -- now, or in another machine (--vm): the same file is probed in every process instead.
    local pid, name = tonumber(f.pid) or -1, f.name
    if pid > 0 and not exists("/proc/" .. pid) then
      pid, name = -1, name and (name:gsub("^/proc/%d+/root/", "/"))
    end
    -- addr is bcc's: an address in the binary (USDT locations), as bpflua takes it too.
    local ok, err = call("attach_" .. kind, {name = name, sym = f.sym, addr = tonumber(f.addr),
      sym_off = tonumber(f.sym_off), fn_name = fn, pid = pid})
    return ok or loaded_by(err), ok, err
  elseif kind == "perf_event" then
    local period, freq = tonumber(f.sample_period) or 0, tonumber(f.sample_freq) or 0
    local ok, err = call("attach_perf_event", {ev_type = tonumber(f.ev_type),
      ev_config = tonumber(f.ev_config), fn_name = fn, pid = tonumber(f.pid) or -1,
      cpu = tonumber(f.cpu) or -1, sample_period = period > 0 and period or nil,
      sample_freq = (freq > 0 or period == 0) and math.max(freq, 1) or nil})
    return ok or loaded_by(err), ok, err
  end
  return false, false, "bpflua has no attach_" .. kind
end

-- Checks object n of a tool: returns the row's counts and the first failure.
local function check_object(dir, n, attaches)
  local r = {programs = 0, loaded = 0, points = 0, attached = 0}
  local text = read_file(dir .. "/" .. n .. ".c")
  local cflags = lines(read_file(dir .. "/" .. n .. ".cflags"))
  -- bcc attaches kprobe__NAME functions as it loads them; so does bpflua, which fails on a
  -- kernel without kprobes. There they are renamed so the rest loads, and checked below.
  local no_kprobes = not has_kprobes()
  -- A call of a function nothing declares would compile to an extern that libbpf cannot
  -- resolve at load ("cannot open the compiled BPF object"); as an error it is named.
  local load_flags = {"-Werror=implicit-function-declaration"}
  for _, f in ipairs(cflags) do
    load_flags[#load_flags + 1] = f
  end
  local mine = {}
  for _, a in ipairs(attaches) do
    if a.index == n then
      if no_kprobes and a.fields.auto and (a.kind == "kprobe" or a.kind == "kretprobe") then
        local renamed = "bcc_compat_" .. a.fields.fn_name
        load_flags[#load_flags + 1] = "-D" .. a.fields.fn_name .. "=" .. renamed
        a.fields.fn_name = renamed
        a.fields.auto = nil
      end
      if not a.fields.auto then
        mine[#mine + 1] = a
      end
    end
  end
  -- Compiled with the flags of the load, so that the load finds the object in the cache.
  local ok, err = compile_only(text, load_flags)
  r.compiles = ok
  if not ok then
    r.reason = reason_of(err)
    return r
  end
  local b
  ok, b = pcall(BPF, {text = text, cflags = load_flags})
  if not ok then
    r.reason = reason_of(b)
    -- bcc's names attach at load: kprobe__FN, kretprobe__FN.
    local auto = r.reason:match("^cannot attach program 'k[a-z]*probe__([%w_]+)'")
    r.reason = kprobe_failure(auto, r.reason)
    r.load_failed = true
    return r
  end
  local at_load = b:num_attached()
  r.programs, r.loaded, r.points, r.attached = at_load, at_load, at_load, at_load
  local seen = {}
  for i, a in ipairs(mine) do
    if i > MAX_ATTACHES then
      break
    end
    local fn = a.fields.fn_name
    local loaded, attached, why = try_attach(b, a.kind, a.fields, no_kprobes)
    if not seen[fn] then
      seen[fn] = true
      r.programs = r.programs + 1
      r.loaded = r.loaded + (loaded and 1 or 0)
    end
    -- bcc's attach by regular expression (event_re, sym_re) skips the functions that do
    -- not attach: so does the count, where the program loaded and the kernel has kprobes.
    if a.fields.regex and not attached and loaded and not no_kprobes then
      goto next
    end
    r.points = r.points + 1
    r.attached = r.attached + (attached and 1 or 0)
    if not attached and not r.reason then
      r.reason = why
    end
    if not loaded then
      r.load_reason = r.load_reason or why
    end
    ::next::
  end
  b:cleanup()
  if r.load_reason then
    r.reason = r.load_reason
  end
  return r
end

local function status_reason(dir)
  local status = (read_file(dir .. "/status") or "killed"):gsub("%s+$", "")
  local stderr = read_file(dir .. "/stderr") or ""
  local last = lines(stderr)
  -- bcc's USDT failure says which probe on its first line, and ends with advice.
  local said = stderr:match("Failed to enable USDT probe '[^']*'") or last[#last] or
    lines(read_file(dir .. "/stdout"))[1] or ""
  if status:match("^error: ") then
    return "tool failed before BPF(): " .. status:sub(8)
  elseif status:match("^no target: ") then
    return status
  end
  return "tool stopped before BPF() (" .. status .. "): " .. said
end

-- The row: tool, generated, compiles, loads, attaches, reason (tab-separated).
local function check(tool)
  local spec = tools_table[tool] or {}
  local dir = record_dir(tool)
  local row = {tool = tool, generated = "no", compiles = "-", loads = "-", attaches = "-"}
  if spec.skip then
    row.generated, row.reason = "skip", spec.skip
    return row
  end
  if not read_file(dir .. "/0.c") then
    row.reason = status_reason(dir)
    return row
  end
  row.generated = "yes"
  BPF = BPF or require("bpflua")
  ffi = ffi or require("ffi")
  lib = lib or require("bpflua.cdefs")
  local attaches = {}
  for _, line in ipairs(lines(read_file(dir .. "/attach"))) do
    local index, kind, fields = parse_attach_line(line)
    if index then
      attaches[#attaches + 1] = {index = index, kind = kind, fields = fields}
    end
  end
  local total = {programs = 0, loaded = 0, points = 0, attached = 0}
  local compiles, load_failed = true, false
  local n = 0
  while read_file(dir .. "/" .. n .. ".c") do
    local r = check_object(dir, n, attaches)
    compiles = compiles and r.compiles
    load_failed = load_failed or r.load_failed or not r.compiles
    for k in pairs(total) do
      total[k] = total[k] + r[k]
    end
    row.reason = row.reason or r.reason
    n = n + 1
  end
  row.compiles = compiles and "yes" or "no"
  if compiles then
    row.loads = (not load_failed and total.loaded == total.programs) and
      ("yes " .. total.loaded .. "/" .. total.programs) or ("no " .. total.loaded .. "/" .. total.programs)
    row.attaches = (not load_failed and total.attached == total.points and total.points > 0) and
      ("yes " .. total.attached .. "/" .. total.points) or ("no " .. total.attached .. "/" .. total.points)
    if not load_failed and total.programs == 0 then
      -- A tool that found nothing to probe (ustat with no Java running) has no program.
      row.loads, row.attaches = "none", "none"
      row.reason = row.reason or "no program: the tool found no process to probe"
    end
  end
  return row
end

local FIELDS = {"tool", "generated", "compiles", "loads", "attaches", "reason"}

-- Why a row is counted apart (absent.lua, or the tool's own rule in tools.lua), or nil: a
-- tool that attached everything, or whose failure is bpflua's, is counted.
local absent_rules = dofile(here .. "/absent.lua")
local function absent_reason(row)
  if row.generated == "skip" then
    return row.reason
  end
  if row.attaches:match("^yes") or row.reason == "" then
    return nil
  end
  local own = (tools_table[row.tool] or {}).absent
  local rules = own and {own} or {}
  for _, rule in ipairs(absent_rules) do
    rules[#rules + 1] = rule
  end
  for _, rule in ipairs(rules) do
    local found = {row.reason:find(rule[1])}
    if found[1] then
      return (rule[2]:gsub("%%1", function() return found[3] or "" end))
    end
  end
end

local function emit(row)
  io.write("bcc_compat_kernel\t" .. command_output("uname -r"):gsub("%s+$", "") .. "\n")
  local t = {"bcc_compat"}
  for _, k in ipairs(FIELDS) do
    t[#t + 1] = (tostring(row[k] or "")):gsub("[\t\n]", " ")
  end
  io.write(table.concat(t, "\t") .. "\n")
  io.flush()
end

if opts.job == "generate" then
  generate(opts.tool)
  os.exit(0)
elseif opts.job == "check" then
  local ok, row = pcall(check, opts.tool)
  if not ok then
    row = {tool = opts.tool, generated = "yes", reason = "runner error: " .. reason_of(row)}
  end
  emit(row)
  os.exit(0)
end

---------------------------------------------------------------------------------------------
-- The main run: generate and check every tool, -j at a time, then print the table.

local tools = {}
for path in command_output("ls " .. shell_quote(opts.bcc_dir) .. "/*-bpfcc 2>/dev/null"):gmatch("[^\n]+") do
  local name = path:match("([^/]+)%-bpfcc$")
  if name and (not opts.only or opts.only[name]) then
    tools[#tools + 1] = name
  end
end
if #tools == 0 then
  io.stderr:write("no bcc tools in " .. opts.bcc_dir .. " (apt-get install bpfcc-tools)\n")
  os.exit(1)
end
os.execute("mkdir -p " .. shell_quote(opts.cache .. "/records"))

local self_exe = command_output("readlink /proc/" .. command_output("echo $PPID"):match("%d+") .. "/exe")
self_exe = self_exe:match("[^\n]+")
if not self_exe or self_exe:match("/sh$") or self_exe:match("/bash$") then
  self_exe = "bpflua"
end

-- In the cache, not /tmp: scripts/vmtest.sh's guest sees this machine's files, but a /tmp of
-- its own.
local list_prefix = opts.cache .. "/tools." .. command_output("echo $PPID"):match("%d+")
local function write_list(path, names)
  write_file(path, table.concat(names, "\n") .. "\n")
  return path
end
local list = write_list(list_prefix .. ".list", tools)

-- The placeholders of tools.lua, set where the jobs run (here, or in the VM): {blockdev} the
-- first disk, or a loop device over an image where there is none (the VM); {libc}; {netdev}.
-- In the VM, the modules vmtest.sh keeps aside (btrfs, xfs, md, nfs) are loaded, so that the
-- tools for them (btrfsdist, xfsslower, mdflush, nfsdist, ...) find their functions in
-- kallsyms, as where they are in use: the tools attach to the code, no mount is needed.
local PLACEHOLDERS = [[blockdev=$(ls /sys/block | grep -v -E '^(loop|ram|zram)' | head -n 1)
if [ -z "$blockdev" ]; then
  truncate -s 64M "$targets_dir/disk.img" &&
    loopdev=$(losetup -f --show "$targets_dir/disk.img" 2>/dev/null) && blockdev=${loopdev#/dev/}
fi
libc=$(ldconfig -p | awk '/libc[.]so[.]6 /{print $NF; exit}')
export BCC_COMPAT_BLOCKDEV=${blockdev:-sda} BCC_COMPAT_NETDEV=lo BCC_COMPAT_LIBC=$libc
if [ -n "${BPFLUA_VMTEST_MODULES:-}" ]; then
  insmod=$(command -v insmod || echo "busybox insmod")
  for m in $(cat "$BPFLUA_VMTEST_MODULES/order"); do
    grep -q "^$m " /proc/modules || $insmod "$BPFLUA_VMTEST_MODULES/$m.ko" >/dev/null 2>&1
  done
fi
]]

-- Starts a target of targets.lua and waits until the file with its USDT probes is mapped;
-- exports BCC_COMPAT_PID_NAME, or BCC_COMPAT_ABSENT_NAME with the reason it has none, and
-- BCC_COMPAT_EXE_NAME, the program's file, where it is installed.
local START_TARGET = [[target_pids="" loopdev=""
# Background jobs of a script ignore SIGINT: the targets are stopped (and the loop device
# given back) however the run ends.
trap 'kill $target_pids 2>/dev/null; [ -z "$loopdev" ] || losetup -d "$loopdev"' EXIT
trap 'exit 130' INT TERM
start_target() { # name package program usdt probe_only maps command
  name=$1 package=$2 program=$3 usdt=$4 probe_only=$5 maps=$6 command=$7
  var=$(echo "$name" | tr a-z A-Z)
  if ! exe=$(command -v "$program" 2>/dev/null); then
    eval "export BCC_COMPAT_ABSENT_$var=\"no $program here (package $package; scripts/bcc_compat/install_targets.sh installs it)\""
    return
  fi
  eval "export BCC_COMPAT_EXE_$var=\$exe"
  if [ "$probe_only" = 1 ]; then
    file=$(readlink -f "$exe")
    if readelf -n "$file" 2>/dev/null | grep -q stapsdt; then
      why="$file has USDT probes, but the runner starts no $program server"
    else
      why="the installed $package is built without USDT probes ($file has no stapsdt notes)"
    fi
    eval "export BCC_COMPAT_ABSENT_$var=\"\$why\""
    return
  fi
  sh -c "$command" </dev/null >/dev/null 2>"$targets_dir/$name.log" &
  pid=$!
  target_pids="$target_pids $pid"
  file="" n=0
  # Up to 5 minutes: a JVM under the VM's emulated CPU is slow to start.
  while [ $n -lt 1500 ] && kill -0 $pid 2>/dev/null; do
    file=$(awk '{print $6}' /proc/$pid/maps 2>/dev/null | grep -E -m 1 "$maps") && break
    n=$((n + 1))
    sleep 0.2
  done
  if [ -z "$file" ]; then
    why="$program (package $package) did not start: $(tail -n 1 "$targets_dir/$name.log" 2>/dev/null)"
  elif [ "$usdt" = 1 ] && ! command -v readelf >/dev/null; then
    why="no readelf here to read the USDT notes of $file (package binutils)"
  elif [ "$usdt" = 1 ] && ! readelf -n "$file" 2>/dev/null | grep -q stapsdt; then
    why="the installed $package is built without USDT probes ($file has no stapsdt notes)"
  else
    eval "export BCC_COMPAT_PID_$var=$pid"
    return
  fi
  kill $pid 2>/dev/null
  eval "export BCC_COMPAT_ABSENT_$var=\"\$why\""
}
]]

local function targets_dir()
  return opts.cache .. "/targets"
end

-- The targets the tools of a list need, by name.
local function needed_targets(names)
  local needed, names_needed = {}, {}
  for _, tool in ipairs(names) do
    for _, name in ipairs(tool_targets(tools_table[tool] or {})) do
      needed[name] = true
    end
  end
  for name in pairs(needed) do
    if targets_table[name] then
      names_needed[#names_needed + 1] = name
    end
  end
  table.sort(names_needed)
  return names_needed
end

-- What a target needs before it starts (a class compiled), done here once: in the VM, a
-- compiler under the emulated CPU would take a minute.
local function prepare_targets(names)
  os.execute("mkdir -p " .. shell_quote(targets_dir()))
  for _, name in ipairs(names) do
    local t = targets_table[name]
    for file, text in pairs(t.files or {}) do
      -- Rewritten only when it changed, so that what was made of it stays newer.
      if read_file(targets_dir() .. "/" .. file) ~= text then
        write_file(targets_dir() .. "/" .. file, text)
      end
    end
    if t.prepare then
      os.execute("cd " .. shell_quote(targets_dir()) .. " && (" .. t.prepare .. ") >" ..
        shell_quote(targets_dir() .. "/" .. name .. ".prepare.log") .. " 2>&1")
    end
  end
end

local function start_targets(names)
  local out = {"targets_dir=" .. shell_quote(targets_dir()) .. "\nmkdir -p \"$targets_dir\"\n", START_TARGET}
  for _, name in ipairs(names) do
    local t = targets_table[name]
    out[#out + 1] = table.concat({"start_target", name, shell_quote(t.package), shell_quote(t.program),
      t.usdt == false and "0" or "1", t.probe_only and "1" or "0", shell_quote(t.maps or ""),
      shell_quote((t.command or ""):gsub("{dir}", targets_dir()))}, " ") .. "\n"
  end
  return table.concat(out)
end

-- A job that dies (a compiler crash) still gives its row, and xargs goes on (it stops at a
-- command killed by a signal).
local JOB = [[dir="$BCC_COMPAT_CACHE/records/$(uname -r)/$TOOL"; mkdir -p "$dir"; out=$("$@" 2>"$dir/check.stderr"); status=$?; printf '%s\n' "$out"; if [ $status -ne 0 ]; then
  printf 'bcc_compat\t%s\tyes\t-\t-\t-\tthe check died (exit status %s)\n' "$TOOL" "$status"; fi]]

local function job_command(job, jobs, tool_list)
  return string.format("xargs -a %s -P %d -I{} env BCC_COMPAT_CACHE=%s TOOL={} sh -c %s sh %s %s --cache %s --bcc-dir %s --job-%s {}",
    shell_quote(tool_list), jobs, shell_quote(opts.cache), shell_quote(JOB), shell_quote(self_exe),
    shell_quote(arg[0]), shell_quote(opts.cache), shell_quote(opts.bcc_dir), job)
end

-- Generating, then checking, in one shell: here, or in the VM's kernel (the tools choose
-- what to probe by the kernel they run on). The VM checks one tool at a time.
local function script(check_jobs, tool_list, names)
  local targets = needed_targets(names)
  prepare_targets(targets)
  return start_targets(targets) .. PLACEHOLDERS ..
    job_command("generate", opts.jobs, tool_list) .. " >/dev/null\n" ..
    (check_jobs and (job_command("check", check_jobs, tool_list) .. "\n") or "")
end

-- The VM (TCG) runs all of them in about half an hour, vmtest.sh's limit: a VM per batch.
local VM_BATCH = 40

local started = os.time()
if opts.mode == "generate" then
  command_output("sh -c " .. shell_quote(script(nil, list, tools)))
  os.remove(list)
  print(string.format("recorded %d tools in %s", #tools, opts.cache .. "/records"))
  os.exit(0)
end

local output
if opts.vm then
  local vmtest = os.getenv("BCC_COMPAT_VMTEST") or (repo .. "/scripts/vmtest.sh")
  if not exists(vmtest) then
    io.stderr:write("--vm needs scripts/vmtest.sh\n")
    os.exit(1)
  end
  local outputs = {}
  for first = 1, #tools, VM_BATCH do
    local names = {unpack(tools, first, math.min(first + VM_BATCH - 1, #tools))}
    local batch = write_list(list_prefix .. "." .. first .. ".list", names)
    outputs[#outputs + 1] = command_output(shell_quote(vmtest) .. " -- sh -c " ..
      shell_quote(script(1, batch, names)))
    os.remove(batch)
  end
  output = table.concat(outputs, "\n")
else
  output = command_output("sh -c " .. shell_quote(script(opts.jobs, list, tools)))
end
os.remove(list)

local rows = {}
local kernel
for line in output:gmatch("[^\r\n]+") do
  kernel = kernel or line:match("^bcc_compat_kernel\t(%S+)")
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  if fields[1] == "bcc_compat" then
    local row = {}
    for i, k in ipairs(FIELDS) do
      row[k] = fields[i + 1]
    end
    rows[#rows + 1] = row
  end
end
table.sort(rows, function(a, b) return a.tool < b.tool end)
kernel = kernel or command_output("uname -r"):match("%S+")
print(string.format("bcc %s tools (bpfcc-tools), bpflua on Linux %s%s",
  command_output("dpkg-query -W -f='${Version}' bpfcc-tools 2>/dev/null"):match("[^\n]*"), kernel,
  opts.vm and " (VM)" or ""))
print(string.format("%-16s %-9s %-8s %-10s %-10s %s", "TOOL", "GENERATED", "COMPILES", "LOADS", "ATTACHES", "REASON"))
local count = {tools = #tools, generated = 0, compiles = 0, loads = 0, attaches = 0}
-- Among the tools not counted apart (absent.lua): how many get through each stage.
local counted = {tools = 0, compiles = 0, loads = 0, attaches = 0}
local apart = 0
local reasons = {}
for _, r in ipairs(rows) do
  local why = absent_reason(r)
  if why then
    apart = apart + 1
  else
    counted.tools = counted.tools + 1
    counted.compiles = counted.compiles + (r.compiles == "yes" and 1 or 0)
    counted.loads = counted.loads + (r.loads:match("^yes") and 1 or 0)
    counted.attaches = counted.attaches + (r.attaches:match("^yes") and 1 or 0)
  end
  print(string.format("%-16s %-9s %-8s %-10s %-10s %s", r.tool, r.generated, r.compiles, r.loads,
    r.attaches, why and ("apart: " .. why) or r.reason))
  count.generated = count.generated + (r.generated == "yes" and 1 or 0)
  count.compiles = count.compiles + (r.compiles == "yes" and 1 or 0)
  count.loads = count.loads + (r.loads:match("^yes") and 1 or 0)
  count.attaches = count.attaches + (r.attaches:match("^yes") and 1 or 0)
  if r.generated == "yes" and r.reason ~= "" and not why then
    local stage = r.compiles ~= "yes" and "compile" or (not r.loads:match("^yes") and "load" or "attach")
    local reason = r.reason:gsub("^verifier: R%d+ ", "verifier: R? "):gsub("'[%w_]+'", "'X'", 1)
    local hint = hint_of(r.reason)
    local key = stage .. ": " .. reason .. (hint and (" -- " .. hint) or "")
    reasons[key] = (reasons[key] or 0) + 1
  end
end
local sorted = {}
for k, v in pairs(reasons) do
  sorted[#sorted + 1] = {k, v}
end
table.sort(sorted, function(a, b) return a[2] > b[2] or (a[2] == b[2] and a[1] < b[1]) end)
print("")
print("most frequent first failures (of the tools counted):")
for i = 1, math.min(15, #sorted) do
  print(string.format("%4d  %s", sorted[i][2], sorted[i][1]))
end
print("")
print(string.format("summary: %d tools, %d generated, %d compile, %d load, %d attach; " ..
  "%d apart (what they need is absent here), of the other %d: %d compile, %d load, %d attach " ..
  "(Linux %s%s, %d s)",
  count.tools, count.generated, count.compiles, count.loads, count.attaches, apart,
  counted.tools, counted.compiles, counted.loads, counted.attaches, kernel,
  opts.vm and ", VM" or ", native", os.time() - started))
