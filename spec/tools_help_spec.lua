-- Keeps the tools in scripts/ from drifting away from bcc's: for every scripts/NAME.lua that
-- bcc also ships (/usr/sbin/NAME-bpfcc, installed by setup.sh), the options and positional
-- arguments in both -h outputs must be the same sets, and the first line the tool prints
-- (its column header, or its "Tracing... Hit Ctrl-C to end.") must be one bcc's source prints.
-- Tools added to scripts/ are picked up by themselves; a difference that is meant to stay
-- goes into an allow-list below, with its reason.
local h = require("spec.helpers")

-- Options (and positionals) ours may lack, or add, tool by tool; each with why.
local allowed = {
  bitesize = {
    -- bcc 0.26's bitesize takes no options at all (its -h starts tracing).
    extra = {["-h"] = true, ["--help"] = true, ["-c"] = true, ["--comm"] = true},
    why = "newer bcc (tools/bitesize.py upstream) has -c/--comm and -h",
  },
  ucalls = {
    extra = {["-d"] = true, ["--duration"] = true},
    why = "-d bounds a run for scripts",
  },
  ugc = {
    extra = {["-d"] = true, ["--duration"] = true},
    why = "-d bounds a run for scripts",
  },
  uthreads = {
    extra = {["-d"] = true, ["--duration"] = true},
    why = "-d bounds a run for scripts",
  },
  oomkill = {
    extra = {["-h"] = true, ["--help"] = true},
    why = "bcc's oomkill takes no options; ours prints its usage on -h rather than tracing",
  },
  execsnoop = {
    extra = {["-C"] = true, ["--print-cpu"] = true, ["-M"] = true, ["--print-pcomm"] = true,
      ["-d"] = true, ["--duration"] = true},
    why = "-C/-M are newer bcc's (tools/execsnoop.py upstream); -d bounds a run for scripts",
  },
  memleak = {
    extra = {["--sort"] = true, ["--symbols-prefix"] = true},
    why = "newer bcc (tools/memleak.py upstream) has --sort and --symbols-prefix",
  },
  offcputime = {
    extra = {["-s"] = true, ["--offset"] = true},
    why = "newer bcc (tools/offcputime.py upstream) has -s/--offset",
  },
  profile = {
    extra = {["--hash-storage-size"] = true},
    why = "--hash-storage-size is newer bcc's (tools/profile.py upstream)",
  },
  statsnoop = {
    extra = {["-s"] = true, ["--sysname"] = true},
    why = "newer bcc (tools/statsnoop.py upstream) has -s/--sysname",
  },
  tcpstates = {
    missing = {["-Y"] = true, ["--journal"] = true},
    why = "logging to the systemd journal needs python-systemd's binding; said in -h",
  },
}

-- Arguments a tool needs to start (a positional target), and which output line to compare
-- (default: the first). Tools not listed start with none.
local runs = {
  argdist = {args = "-C 't:syscalls:sys_enter_getpriority()'"},
  funccount = {args = "t:syscalls:sys_enter_getpriority"},
  funclatency = {args = "c:getpriority"},
  funcslower = {args = "c:getpriority"},
  stackcount = {args = "t:syscalls:sys_enter_getpriority"},
  trace = {args = "t:syscalls:sys_enter_getpriority"},
  memleak = {args = "-c true"},
  -- the shell that runs the tool: its syscalls (ucalls), its threads (uthreads)
  ucalls = {args = "-l none -S $$"},
  uthreads = {args = "-l none $$"},
}

-- First lines that differ from bcc's on purpose.
local header_allowed = {
  -- Debian's bcc 0.26 names the process's own comm column PCOMM; upstream bcc (tools/
  -- execsnoop.py) renamed it COMM when -M/--print-pcomm added the parent's as PCOMM, as ours.
  execsnoop = "follows upstream bcc's COMM/PCOMM header",
  -- bcc prints "Attaching to ..." with its own probe wording; ours names the probes it made.
  argdist = "prints nothing before its first interval, as bcc's with -C",
  -- bcc's memleak -c prints the pid it started; ours runs the command the same way but
  -- the pid differs run to run, so the first line is not comparable.
  memleak = "first line carries the pid of the command it started",
  ugc = "needs a Python or Java process to attach to; spec/usdt_spec.lua runs it on one",
  -- bcc's vfsstat writes its header in pieces (print(..., end="") per column), which no
  -- single print statement matches; spec/tools_system_spec.lua checks the columns.
  vfsstat = "header assembled from several print() calls in bcc's source",
}

-- Tools that need kprobes (no tracepoint does their job): on a kernel without them they end
-- with a one-line error (spec/tools_system_spec.lua), and their output is checked in the VM
-- (spec/kernel/tools_kprobe_spec.lua).
local needs_kprobes = {cachestat = true, filelife = true}
local has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

-- The options and positional arguments of an argparse-style usage text (bcc's and ours:
-- bpflua.args prints the same layout).
local function parse_help(text)
  local options, positionals, section = {}, {}, nil
  for line in (text .. "\n"):gmatch("(.-)\n") do
    if line:match("^%S.*:$") then
      section = line:match("^positional") and "positional" or
        ((line:match("^options") or line:match("^optional")) and "options" or nil)
    elseif section == "options" and line:match("^  %-") then
      local names = line:match("^  (.-)%s%s") or line:sub(3)
      for flag in names:gmatch("%-%-?[%w][%w_%-]*") do
        if flag:match("^%-%-") or #flag == 2 then
          options[flag] = true
        end
      end
    elseif section == "positional" and line:match("^  %S") then
      positionals[line:match("^  (%S+)")] = true
    end
  end
  return options, positionals
end

local function read(path)
  local f = io.open(path)
  if not f then
    return nil
  end
  local text = f:read("*a")
  f:close()
  return text
end

-- bcc's program of that name: Debian installs most as /usr/sbin/NAME-bpfcc, the
-- language tools of bcc's tools/lib (ucalls, ugc, uthreads) as /usr/sbin/NAME.
local function bcc_program(name)
  local suffixed = "/usr/sbin/" .. name .. "-bpfcc"
  if read(suffixed) then
    return suffixed
  end
  local plain = read("/usr/sbin/" .. name)
  if plain and plain:match("^#![^\n]*python") and plain:find("from bcc import", 1, true) then
    return "/usr/sbin/" .. name
  end
end

-- scripts/NAME.lua with a bcc counterpart, sorted.
local function tools()
  local list = {}
  local out = h.run("ls scripts/*.lua")
  for name in out:gmatch("scripts/([%w_]+)%.lua") do
    if bcc_program(name) then
      list[#list + 1] = name
    end
  end
  table.sort(list)
  return list
end

-- The differences between two sets as sorted "+name"/"-name" entries, leaving out allowed.
local function differences(ours, bcc, allow)
  local diff = {}
  for k in pairs(bcc) do
    if not ours[k] and not (allow.missing or {})[k] then
      diff[#diff + 1] = "missing " .. k
    end
  end
  for k in pairs(ours) do
    if not bcc[k] and not (allow.extra or {})[k] then
      diff[#diff + 1] = "extra " .. k
    end
  end
  table.sort(diff)
  return diff
end

-- The string literals of Python text, in order (escaped quotes kept as quotes), with the
-- position after each.
local function literals_of(text)
  local list, i, quote, current = {}, 1, nil, nil
  while i <= #text do
    local c = text:sub(i, i)
    if quote then
      if c == "\\" then
        current[#current + 1] = text:sub(i + 1, i + 1)
        i = i + 1
      elseif c == quote then
        list[#list + 1] = {table.concat(current), i + 1}
        quote = nil
      else
        current[#current + 1] = c
      end
    elseif c == '"' or c == "'" then
      quote, current = c, {}
    end
    i = i + 1
  end
  return list
end

-- The text of every print(...) call, from "print" to its closing parenthesis.
local function print_calls(source)
  local calls = {}
  for start in source:gmatch("()printb?%(") do
    local depth, i, quote = 0, start, nil
    while i <= #source do
      local c = source:sub(i, i)
      if quote then
        if c == "\\" then
          i = i + 1
        elseif c == quote then
          quote = nil
        end
      elseif c == '"' or c == "'" then
        quote = c
      elseif c == "(" then
        depth = depth + 1
      elseif c == ")" then
        depth = depth - 1
        if depth == 0 then
          break
        end
      end
      i = i + 1
    end
    calls[#calls + 1] = source:sub(start, i)
  end
  return calls
end

-- Python's "{:16}"/"{:<7}"/"{:>7}"/"{}" fields as %-formats; "%-*s" (bcc's pid columns,
-- sized to pid_max's digits) at bcc's fallback width of 6.
local function as_format(text)
  text = text:gsub("{:<?(%d+)}", "%%-%1s"):gsub("{:>(%d+)}", "%%%1s"):gsub("{}", "%%s")
  return (text:gsub("%%%-%*s", "%%-6s"):gsub("%%(%-?%d*)%.?%d*[dlgf]+", "%%%1s")
    :gsub("%%(%-?%d*)%.%d+s", "%%%1s"))
end

-- The print statements of a bcc tool's source: {format, literals after it}. A format named
-- by a variable (bcc's header_string) is tried with every literal assigned to it.
local function print_statements(source)
  local statements = {}
  for _, call in ipairs(print_calls(source)) do
    local literals = literals_of(call)
    local variable = call:match("^printb?%(%s*([%a_][%w_]*)%s*%%")
    local formats, rest = {}, literals
    if variable then
      for text in source:gmatch(variable .. "%s*=%s*(%b\"\")") do
        formats[#formats + 1] = text:sub(2, -2)
      end
    elseif literals[1] then
      formats[1], rest = literals[1][1], {unpack(literals, 2)}
    elseif call:match("^printb?%(%s*%)$") then
      formats[1] = ""  -- print(): ends a line left open
    end
    local values = {}
    for _, l in ipairs(rest) do
      values[#values + 1] = l[1]
    end
    -- print(..., end="") leaves the line open for the next print's text
    local open_end = call:match("end%s*=%s*[\"'][\"']%s*%)$") ~= nil
    if open_end then
      values[#values] = nil
    end
    for _, format in ipairs(formats) do
      statements[#statements + 1] = {format = as_format(format), values = values, open_end = open_end}
    end
  end
  return statements
end

local function escape(s)
  return (s:gsub("[%-%.%+%[%]%(%)%$%^%%%?%*]", "%%%0"))
end

-- Picks `needed` of values, in order (bcc's conditional columns leave both choices among the
-- literals: "TID" if args.tid else "PID", "IP" if args.wide else ""); calls try with each
-- choice until it returns true.
local function choose(values, needed, try)
  local picked = {}
  local function step(v)
    if #picked == needed then
      return try(picked)
    end
    if #values - v + 1 < needed - #picked then
      return false
    end
    picked[#picked + 1] = values[v]
    if step(v + 1) then
      return true
    end
    picked[#picked] = nil
    return step(v + 1)
  end
  return step(1)
end

-- The texts (Lua patterns) a statement prints, each anchored at the start: the format with
-- column names among its literals (widths included), or with anything for its values when it
-- has enough fixed text to tell ("Tracing %d functions for ...").
local function printed(s)
  local texts = {}
  local specs = select(2, s.format:gsub("%%[-%d.]*s", ""))
  if specs == 0 then
    texts[1] = "^" .. escape(s.open_end and s.format or s.format:gsub("%s+$", ""))
  else
    choose(s.values, specs, function(picked)
      local text = string.format(s.format, unpack(picked))
      texts[#texts + 1] = "^" .. escape(s.open_end and text or text:gsub("%s+$", ""))
      return #texts > 50
    end)
    local fixed = s.format:gsub("%%[-%d.]*s", ""):gsub("%s", "")
    if #fixed >= 8 then
      texts[#texts + 1] = "^" .. escape(s.format):gsub("%%%%[-%d.]*s", ".-")
    end
  end
  return texts
end

-- Whether line is what bcc's print statements print: one statement's text, or (print with
-- end="") one's text followed by the rest of the line printed by others.
local function bcc_prints(statements, line, depth)
  depth = depth or 0
  for _, s in ipairs(statements) do
    for _, text in ipairs(printed(s)) do
      if not s.open_end then
        local whole = line:match(text .. "%s*$")
        if whole then
          return true
        end
      elseif depth < 3 then
        -- every split of line into this statement's text and a rest
        for cut = 1, #line do
          if line:sub(1, cut):match(text .. "$") and
            bcc_prints(statements, line:sub(cut + 1), depth + 1) then
            return true
          end
        end
      end
    end
  end
  return false
end

describe("the tools' options and headers against bcc's", function()
  local list = tools()

  it("finds the tools that bcc also has", function()
    assert.is_true(#list >= 30, "bcc's tools are installed (setup.sh: bpfcc-tools)")
    for _, tool in ipairs({"opensnoop", "execsnoop", "funccount", "trace", "argdist"}) do
      assert.is_truthy(read("/usr/sbin/" .. tool .. "-bpfcc"), tool)
    end
  end)

  it("offers bcc's options and positional arguments, tool for tool", function()
    local report = {}
    for _, tool in ipairs(list) do
      local ours, _, status = h.run("bpflua scripts/" .. tool .. ".lua -h")
      assert.are.equal(0, status, tool .. " -h")
      local theirs = h.run(bcc_program(tool) .. " -h 2>&1 </dev/null | head -c 20000")
      local our_options, our_positionals = parse_help(ours)
      assert.is_true(our_options["-h"], tool .. ": -h parsed from our usage")
      local bcc_options, bcc_positionals = parse_help(theirs)
      local allow = allowed[tool] or {}
      for _, d in ipairs(differences(our_options, bcc_options, allow)) do
        report[#report + 1] = tool .. ": " .. d
      end
      for _, d in ipairs(differences(our_positionals, bcc_positionals, allow)) do
        report[#report + 1] = tool .. ": " .. d .. " (positional)"
      end
    end
    assert.are.same({}, report)
  end)

  it("keeps every allow-list entry needed (a fixed drift leaves the list)", function()
    local stale = {}
    for tool, allow in pairs(allowed) do
      local ours = h.run("bpflua scripts/" .. tool .. ".lua -h")
      local theirs = h.run(bcc_program(tool) .. " -h 2>&1 </dev/null | head -c 20000")
      local our_options = parse_help(ours)
      local bcc_options = parse_help(theirs)
      assert.is_truthy(allow.why, tool)
      for k in pairs(allow.missing or {}) do
        if our_options[k] or not bcc_options[k] then
          stale[#stale + 1] = tool .. ": missing " .. k
        end
      end
      for k in pairs(allow.extra or {}) do
        if bcc_options[k] or not our_options[k] then
          stale[#stale + 1] = tool .. ": extra " .. k
        end
      end
    end
    table.sort(stale)
    assert.are.same({}, stale)
  end)

  describe("first output line", function()
    setup(function()
      assert(h.require_bpf())
    end)

    it("is one bcc's source prints, flushed at once into a pipe; Ctrl-C closes as bcc's", function()
      local report = {}
      local dir = h.tmpdir()
      for _, tool in ipairs(list) do
        if not header_allowed[tool] and (has_kprobes or not needs_kprobes[tool]) then
          local run = runs[tool] or {}
          local out = dir .. "/" .. tool
          -- the tool's first line, as soon as it is written into a pipe (a line that waits
          -- for a full buffer never shows up before Ctrl-C), then Ctrl-C
          local result = h.run(string.format([[
            rm -f %s.pipe; mkfifo %s.pipe; cat %s.pipe > %s & cp=$!
            bpflua scripts/%s.lua %s > %s.pipe 2>%s.err & tp=$!
            for i in $(seq 1 1200); do [ -s %s ] && break; kill -0 $tp 2>/dev/null || break; sleep 0.05; done
            [ -s %s ] && echo flushed
            kill -INT $tp 2>/dev/null; wait $tp; wait $cp]], out, out, out, out, tool, run.args or "",
            out, out, out, out))
          local text = read(out) or ""
          local line = (text:match("^([^\n]*)\n") or ""):gsub("%s+$", "")
          local source = read(bcc_program(tool))
          local statements = print_statements(source)
          -- bcc's closing line on Ctrl-C, where bcc prints one
          if source:find('print("Detaching...")', 1, true) and not text:find("\nDetaching...\n", 1, true) then
            report[#report + 1] = tool .. ": no 'Detaching...' after Ctrl-C"
          end
          -- padded: bcc's column formats leave trailing blanks, ours are trimmed
          if not result:find("flushed", 1, true) then
            report[#report + 1] = tool .. ": nothing came through the pipe before Ctrl-C"
          elseif not bcc_prints(statements, line .. "        ") then
            report[#report + 1] = tool .. ": '" .. line .. "'" ..
              (line == "" and (" (stderr: " .. (read(out .. ".err") or "") .. ")") or "")
          end
        end
      end
      h.run("rm -rf " .. dir)
      assert.are.same({}, report)
    end)
  end)
end)
