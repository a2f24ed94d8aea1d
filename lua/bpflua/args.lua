-- A small option parser for the tools in scripts/: "-p 123", "--pid 123", flags, positional
-- arguments, and -h/--help printing the usage.
--   local opts = require("bpflua.args").parse(arg, {
--     usage = "opensnoop.lua [-p PID] [-d SECONDS]",
--     {"-p", "--pid", "pid", "number", "trace this process only"},
--     {"-x", "--failed", "failed", "flag", "show failed opens only"},
--     {"-d", "--duration", "duration", "number", "stop after", metavar = "SECONDS"},
--     {"-I", "--include", "include", "list", "a header (repeatable)", metavar = "HEADER"},
--     positional = {{"interval", "number", "output interval, in seconds"},
--                   {"count", "number", "number of outputs"}},   -- bcc's [interval] [count]
--     -- or a last {"pattern", "list", "...", required = true}: bcc's nargs="+", a list

--     examples = "examples:\n    opensnoop.lua -p 181   # only trace PID 181",
--   })
-- Long options also take their value as --pid=123. Positional arguments are also left in
-- opts[1..n].
local M = {}

-- The usage laid out as Python's argparse lays out bcc's: sections for the positional
-- arguments and the options, each option with its value name after every spelling
-- ("-p PID, --pid PID"), so the tools' -h reads (and parses) as bcc's does.
local function help_entry(names, text)
  if #names <= 21 then
    return string.format("  %-22s%s", names, text)
  end
  return "  " .. names .. "\n" .. string.rep(" ", 24) .. text
end

local function help(spec)
  local lines = {"usage: " .. spec.usage}
  if spec.description then
    lines[#lines + 1] = ""
    lines[#lines + 1] = spec.description
  end
  if spec.positional then
    lines[#lines + 1] = ""
    lines[#lines + 1] = "positional arguments:"
    for _, p in ipairs(spec.positional) do
      lines[#lines + 1] = help_entry(p.metavar or p[1], p[3])
    end
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "options:"
  lines[#lines + 1] = help_entry("-h, --help", "show this help message and exit")
  for _, o in ipairs(spec) do
    local takes = o[4] == "flag" and "" or (" " .. (o.metavar or o[3]:upper()))
    local names = {}
    for n = 1, 2 do
      if o[n] then
        names[#names + 1] = o[n] .. takes
      end
    end
    lines[#lines + 1] = help_entry(table.concat(names, ", "), o[5])
  end
  if spec.examples then
    lines[#lines + 1] = ""
    lines[#lines + 1] = spec.examples
  end
  return table.concat(lines, "\n")
end

-- Returns the options (positional arguments in opts[1..n]); prints the usage and exits on
-- -h (status 0) or on a bad argument (status 2, as argparse does). It also makes standard
-- output line-buffered, before the tool prints anything (a -v program, a header): a tool's
-- lines go out as they happen, into a pipe too (tool | grep x), as bcc's do.
function M.parse(argv, spec)
  io.stdout:setvbuf("line")
  local opts, i = {}, 1
  for _, o in ipairs(spec) do
    opts[o[3]] = o.default
  end
  local function fail(message)
    local program = spec.usage:match("^%S+")
    io.stderr:write(program .. ": " .. message .. "\n" .. help(spec) .. "\n")
    os.exit(2)
  end
  local positional = {}
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then
      print(help(spec))
      os.exit(0)
    end
    local inline
    if a:match("^%-%-[^=]+=") then
      a, inline = a:match("^(%-%-[^=]+)=(.*)$")
    end
    local matched
    for _, o in ipairs(spec) do
      if a == o[1] or a == o[2] then
        matched = o
      end
    end
    if matched then
      if matched[4] == "flag" then
        if inline then
          fail(a .. " takes no value")
        end
        opts[matched[3]] = true
      else
        local v = inline
        if v == nil then
          v = argv[i + 1]
          i = i + 1
        end
        if v == nil then
          fail(a .. " needs a value")
        end
        if matched[4] == "number" then
          v = tonumber(v) or fail(a .. " needs a number, not '" .. v .. "'")
        end
        if matched[4] == "list" then  -- repeatable: every value, in order
          local list = opts[matched[3]] or {}
          list[#list + 1] = v
          v = list
        end
        opts[matched[3]] = v
      end
    elseif a:sub(1, 1) == "-" and a ~= "-" and not tonumber(a) then
      fail("unknown option " .. a)
    else
      positional[#positional + 1] = a
    end
    i = i + 1
  end
  for n, a in ipairs(positional) do
    opts[n] = a
  end
  if not spec.positional then
    return opts
  end
  local last = spec.positional[#spec.positional]
  local takes_rest = last[2] == "list"
  if #positional > #spec.positional and not takes_rest then
    fail("unrecognized arguments: " .. table.concat(positional, " ", #spec.positional + 1))
  end
  for n, a in ipairs(positional) do
    local p = spec.positional[math.min(n, #spec.positional)]
    local v = a
    if p[2] == "number" then
      v = tonumber(a) or fail("argument " .. p[1] .. ": needs a number, not '" .. a .. "'")
    elseif p[2] == "list" then  -- bcc's nargs="+": this and every later argument
      v = opts[p[1]] or {}
      v[#v + 1] = a
    end
    opts[p[1]] = v
  end
  if takes_rest and last.required and not opts[last[1]] then
    fail("the following arguments are required: " .. last[1])
  end
  return opts
end

-- bcc's comma-separated id lists ("185,186", -p/-t/-L of the stack tools) as a C condition
-- on the variable v: "(v == 185 || v == 186)", or "1" when there is no list. A bad id prints
-- program's error and exits 2, as argparse does.
function M.id_filter(program, list, v)
  if not list then
    return "1"
  end
  local terms = {}
  for id in list:gmatch("[^,%s]+") do
    if not tonumber(id) or tonumber(id) <= 0 then
      io.stderr:write(program .. ": '" .. id .. "' is not a positive integer\n")
      os.exit(2)
    end
    terms[#terms + 1] = v .. " == " .. tonumber(id)
  end
  return "(" .. table.concat(terms, " || ") .. ")"
end

-- bcc's --cgroupmap and --mntnsmap, the options of the tools that take them.
M.CONTAINER_OPTIONS = {
  {nil, "--cgroupmap", "cgroupmap", "string", "trace cgroups in this BPF map only", metavar = "CGROUPMAP"},
  {nil, "--mntnsmap", "mntnsmap", "string", "trace mount namespaces in this BPF map only",
    metavar = "MNTNSMAP"},
}

-- The C of those options, as bcc's containers.py writes it: container_should_be_filtered()
-- is true for a task outside the cgroups (keys: cgroup ids) of the hash map pinned at
-- --cgroupmap, or outside the mount namespaces (keys: the namespaces' inode numbers) of the
-- one at --mntnsmap; always false without them. The maps are the user's (bpftool map
-- create ... or BPF_TABLE_PINNED); a path with none pinned there prints program's error and
-- exits 2, rather than filtering on an empty map made in its place.
function M.container_filter(program, opts)
  local function pinned(option, path)
    local f = io.open(path)
    if not f then
      io.stderr:write(program .. ": error: " .. option .. ": no BPF map pinned at " .. path .. "\n")
      os.exit(2)
    end
    f:close()
    return (path:gsub('[\\"]', "\\%0"))
  end
  local text = {}
  if opts.cgroupmap then
    text[#text + 1] = string.format([[
BPF_TABLE_PINNED("hash", u64, u64, cgroupset, 1024, "%s");
static inline int __cgroup_filtered(void) {
  u64 id = bpf_get_current_cgroup_id();
  return cgroupset.lookup(&id) == NULL;
}]], pinned("--cgroupmap", opts.cgroupmap))
  end
  if opts.mntnsmap then
    text[#text + 1] = string.format([[
BPF_TABLE_PINNED("hash", u64, u32, mount_ns_set, 1024, "%s");
static inline int __mntns_filtered(void) {
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  u64 id = BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
  return mount_ns_set.lookup(&id) == NULL;
}]], pinned("--mntnsmap", opts.mntnsmap))
  end
  text[#text + 1] = string.format([[
static inline int container_should_be_filtered(void) {
  return %s || %s;
}]], opts.cgroupmap and "__cgroup_filtered()" or "0", opts.mntnsmap and "__mntns_filtered()" or "0")
  return table.concat(text, "\n") .. "\n"
end

-- Ends the tool with "program: message" on stderr and status 1, for an error bpflua raised
-- (an attach the kernel refused): its "file:line:" prefix says nothing to the tool's user.
function M.fail(program, err)
  local message = tostring(err):gsub("^[^\n]-:%d+: ", "")
  io.stderr:write(program .. ": " .. message .. "\n")
  os.exit(1)
end

return M
