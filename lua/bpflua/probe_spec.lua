-- The probe-spec mini-languages of bcc's trace and argdist, parsed into tables, and the
-- pieces of BPF C both tools build their programs from (argument reads, aliases, string
-- reads, pid filters). Each tool writes its own program around these pieces.
--   local spec = require("bpflua.probe_spec")
--   local p = spec.parse_trace('p:c:malloc(size_t size) (size > 16) "%d", size')
--   local q = spec.parse_argdist('p:c:malloc(size_t size):size_t:size', "freq")
-- Errors are Lua errors naming the probe, as bcc's ValueError does.
local M = {}

local function bail(raw, message)
  error("error in probe '" .. raw .. "': " .. message, 0)
end

local function trim(s)
  return (s:gsub("^%s+", ""):gsub("%s+$", ""))
end

-- Splits text at the commas outside parentheses, brackets and string literals.
function M.split_top_level(text)
  local parts, depth, start, quoted = {}, 0, 1, false
  local i = 1
  while i <= #text do
    local c = text:sub(i, i)
    if quoted then
      if c == "\\" then
        i = i + 1
      elseif c == '"' then
        quoted = false
      end
    elseif c == '"' then
      quoted = true
    elseif c == "(" or c == "[" then
      depth = depth + 1
    elseif c == ")" or c == "]" then
      depth = depth - 1
    elseif c == "," and depth == 0 then
      parts[#parts + 1] = text:sub(start, i - 1)
      start = i + 1
    end
    i = i + 1
  end
  parts[#parts + 1] = text:sub(start)
  return parts
end

-- "size_t size, const char *s" -> {{type = "size_t", name = "size"}, {type = "const char *",
-- name = "s"}}; the parameters a probe's expressions may name.
function M.parse_signature(signature, raw)
  local params = {}
  if not signature or trim(signature) == "" or trim(signature) == "void" then
    return params
  end
  for _, param in ipairs(M.split_top_level(signature)) do
    param = trim(param)
    local ctype, name = param:match("^(.-%*)%s*([%a_][%w_]*)$")
    if not ctype then
      ctype, name = param:match("^(.-%S)%s+([%a_][%w_]*)$")
    end
    if not ctype then
      bail(raw, "cannot read parameter '" .. param .. "' (expected a type and a name)")
    end
    if #params == 6 then
      bail(raw, "only the first 6 parameters are in registers")
    end
    params[#params + 1] = {type = trim(ctype), name = name, user = ctype:find("__user") ~= nil}
  end
  return params
end

-- Probe types and where they attach: p/r on kernel functions (no library) or user functions
-- (library), t on tracepoints, u on USDT probes.
local PROBE_TYPES = {p = true, r = true, t = true, u = true}

-- "0x12" or "18" after a '+' in a function name: an offset into the function.
local function parse_offset(raw, func)
  local name, offset = func:match("^(.-)%+(.+)$")
  if not name then
    return func, 0
  end
  local value = tonumber(offset)
  if not value then
    bail(raw, "invalid offset format '" .. offset .. "', must be decimal or hexadecimal")
  end
  return name, value
end

-- Syscall kprobes on x86-64 see the user's registers through the first argument.
function M.is_syscall_kprobe(p)
  return p.type == "p" and p.library == "" and p.func:sub(1, 10) == "__x64_sys_"
end

-- trace's probe part, "[{p,r}]:[library]:function[+offset]", "t:category:event",
-- "u:library:[provider:]probe"; 'func' means p::func, 'lib:func' p:lib:func.
local function parse_trace_probe(p, text)
  local parts = {}
  for part in (text .. ":"):gmatch("(.-):") do
    parts[#parts + 1] = part
  end
  if #parts == 1 then
    parts = {"p", "", parts[1]}
  elseif #parts == 2 then
    parts = {"p", parts[1], parts[2]}
  end
  local kind = parts[1] == "" and "p" or parts[1]
  if not PROBE_TYPES[kind] then
    bail(p.raw, "probe type must be '', 'p', 't', 'r', or 'u', but got '" .. parts[1] .. "'")
  end
  p.type = kind
  if kind == "t" then
    if #parts ~= 3 or parts[2] == "" or parts[3] == "" then
      bail(p.raw, "a tracepoint is t:category:event")
    end
    p.category, p.event, p.library, p.func = parts[2], parts[3], "", parts[3]
  elseif kind == "u" then
    p.library = parts[2]
    p.provider = #parts > 3 and parts[3] or nil
    p.func = parts[#parts]
  else
    p.library = table.concat(parts, ":", 2, #parts - 1)
    p.func, p.offset = parse_offset(p.raw, parts[#parts])
  end
  if p.func == "" then
    bail(p.raw, "no function named")
  end
  p.syscall_kprobe = M.is_syscall_kprobe(p)
end

-- The "format", arg, arg part: the format's specifiers become types (bcc's set), the
-- arguments stay C expressions.
local FORMAT_TYPES = {
  u = "unsigned int", d = "int", lu = "unsigned long", ld = "long", llu = "unsigned long long",
  lld = "long long", hu = "unsigned short", hd = "short", x = "unsigned int",
  lx = "unsigned long", llx = "unsigned long long", c = "char", K = "unsigned long long",
  U = "unsigned long long", s = "string",
}
M.FORMAT_TYPES = FORMAT_TYPES
local SPECIFIERS = {"llu", "lld", "llx", "lu", "ld", "lx", "hu", "hd", "u", "d", "x", "c", "K",
  "U", "s"}

local function parse_format(p, format)
  p.types = {}
  local pieces, i = {}, 1
  -- The format as Lua sees it: each bcc specifier becomes %s, filled with the value already
  -- rendered the way Python's % would render it.
  while i <= #format do
    local c = format:sub(i, i)
    if c == "%" and format:sub(i + 1, i + 1) == "%" then
      pieces[#pieces + 1] = "%%"
      i = i + 2
    elseif c == "%" then
      local found
      for _, s in ipairs(SPECIFIERS) do
        if format:sub(i + 1, i + #s) == s then
          found = s
          break
        end
      end
      if not found then
        bail(p.raw, "unrecognized format specifier at '" .. format:sub(i, i + 3) .. "'")
      end
      p.types[#p.types + 1] = found
      pieces[#pieces + 1] = "%s"
      i = i + 1 + #found
    else
      pieces[#pieces + 1] = c
      i = i + 1
    end
  end
  p.format = table.concat(pieces)
end

local function parse_action(p, action)
  p.values, p.types, p.format = {}, {}, nil
  action = trim(action)
  if action == "" then
    return
  end
  local format, rest = action:match('^"(.-)"%s*(.*)$')
  if not format then
    bail(p.raw, 'expected format string in "s')
  end
  parse_format(p, format)
  if rest ~= "" then
    if rest:sub(1, 1) ~= "," then
      bail(p.raw, "expected ',' after the format string, got '" .. rest .. "'")
    end
    for _, value in ipairs(M.split_top_level(rest:sub(2))) do
      value = trim(value)
      if value ~= "" then
        p.values[#p.values + 1] = value
      end
    end
  end
  if #p.values ~= #p.types then
    bail(p.raw, string.format("the format has %d specifiers but %d arguments follow",
      #p.types, #p.values))
  end
end

-- A trace probe: 'probe[(signature)] [(filter)] ["format"[, arg...]]'.
function M.parse_trace(text)
  local p = {raw = text, offset = 0}
  local probe, rest = text:match("^%s*([^%s%(]+)(.*)$")
  if not probe then
    bail(text, "no probe given")
  end
  parse_trace_probe(p, probe)
  local signature
  if rest:sub(1, 1) == "(" then
    signature, rest = rest:match("^%(([^%(]-)%)(.*)$")
    if not signature then
      bail(text, "unmatched end of signature")
    end
    if p.type == "u" or p.type == "t" then
      bail(text, "USDT and tracepoint probes can't have a function signature; " ..
        "use arg1, arg2, ... instead")
    end
  end
  p.params = M.parse_signature(signature, text)
  rest = rest:gsub("^%s+", "")
  p.filter = "1"
  if rest:sub(1, 1) == "(" then
    local depth, close = 0, nil
    for i = 1, #rest do
      local c = rest:sub(i, i)
      depth = depth + (c == "(" and 1 or c == ")" and -1 or 0)
      if depth == 0 then
        close = i
        break
      end
    end
    if not close then
      bail(text, "unmatched end of predicate")
    end
    p.filter = rest:sub(1, close)
    rest = rest:sub(close + 1)
  end
  parse_action(p, rest)
  return p
end

-- argdist's "{p,r,t,u}:{[library],category}:function(signature)[:type[,type]:expr[,expr]
-- [:filter]][#label]"; kind is "freq" (-C) or "hist" (-H).
function M.parse_argdist(text, kind)
  local p = {raw = text, kind = kind, offset = 0}
  local spec, label = text:match("^(.-)#(.*)$")
  p.label = label
  spec = trim(spec or text)
  -- The signature's parentheses may hold no ':', so the first ':'-parts are the probe's.
  local kind_part, library, func, signature, after = spec:match("^([^:]*):([^:]*):([^:%(]+)(%b())(.*)$")
  if not kind_part then
    local k, l, f = spec:match("^([^:]*):([^:]*):([^:%(]+)$")
    if not k then
      bail(text, "at least the probe type, library, and function signature must be specified")
    end
    kind_part, library, func, signature, after = k, l, f, "()", ""
  end
  if not (kind_part == "p" or kind_part == "r" or kind_part == "t" or kind_part == "u") then
    bail(text, "probe type must be 'p', 'r', 't', or 'u' but got '" .. kind_part .. "'")
  end
  p.type, p.func = kind_part, trim(func)
  if p.type == "t" then
    p.category, p.event, p.library = library, p.func, ""
  else
    p.library = library
  end
  p.syscall_kprobe = M.is_syscall_kprobe(p)
  signature = signature:sub(2, -2)
  p.params = M.parse_signature(signature, text)
  local parts = {}
  if after ~= "" then
    if after:sub(1, 1) ~= ":" then
      bail(text, "expected ':' after the function signature, got '" .. after .. "'")
    end
    -- type:expr:filter; the filter is everything after the third ':' (it may hold '::').
    local types, exprs, filter = after:match("^:([^:]*):([^:]*):(.*)$")
    if not types then
      types, exprs = after:match("^:([^:]*):(.*)$")
    end
    if not types then
      bail(text, "a type needs an expression: type:expr")
    end
    parts = {types, exprs, filter}
  end
  p.default_expr = #parts == 0
  if p.default_expr then
    if p.type ~= "r" and kind == "hist" then
      bail(text, "histograms must have expr")
    end
    p.expr_types = {p.type == "r" and "int" or "u64"}
    p.exprs = {p.type == "r" and "$retval" or "1"}
  else
    if trim(parts[1]) == "" then
      bail(text, "no expr types specified")
    end
    if trim(parts[2]) == "" then
      bail(text, "no exprs specified")
    end
    p.expr_types, p.exprs = {}, {}
    for _, t in ipairs(M.split_top_level(parts[1])) do
      p.expr_types[#p.expr_types + 1] = trim(t)
    end
    for _, e in ipairs(M.split_top_level(parts[2])) do
      p.exprs[#p.exprs + 1] = trim(e)
    end
    if #p.exprs ~= #p.expr_types then
      bail(text, "mismatched # of exprs and types")
    end
    if kind == "hist" and #p.exprs > 1 then
      bail(text, "histograms can only have 1 expr")
    end
  end
  p.filter = parts[3] and trim(parts[3]) ~= "" and trim(parts[3]) or "1"
  return p
end

-- Names free of C's punctuation, for functions and maps.
function M.identifier(text)
  return (text:gsub("[^%w_]", "_"))
end

local ARG_NAMES = {"arg1", "arg2", "arg3", "arg4", "arg5", "arg6"}

-- The C for argument n of a probe: the register, or for x86-64 syscall kprobes the user's
-- register saved in the pt_regs the first argument points at.
function M.arg_expr(p, n)
  if p.syscall_kprobe then
    return string.format("({ u64 __v = 0; struct pt_regs *__r = (struct pt_regs *)PT_REGS_PARM1(ctx); " ..
      "bpf_probe_read_kernel(&__v, sizeof(__v), &PT_REGS_PARM%d(__r)); __v; })", n)
  end
  return "PT_REGS_PARM" .. n .. "(ctx)"
end

local COMMON_ALIASES = {
  {"$retval", "PT_REGS_RC(ctx)"},
  {"retval", "PT_REGS_RC(ctx)"},
  {"$uid", "((unsigned)(bpf_get_current_uid_gid() & 0xffffffff))"},
  {"$gid", "((unsigned)(bpf_get_current_uid_gid() >> 32))"},
  {"$pid", "((unsigned)(bpf_get_current_pid_tgid() & 0xffffffff))"},
  {"$tgid", "((unsigned)(bpf_get_current_pid_tgid() >> 32))"},
  {"$PID", "((unsigned)(bpf_get_current_pid_tgid() >> 32))"},
  {"$cpu", "bpf_get_smp_processor_id()"},
  {"$task", "((struct task_struct *)bpf_get_current_task())"},
}

-- Replaces the whole word name (not part of a longer identifier) in expr.
local function replace_word(expr, name, replacement)
  local out, i = {}, 1
  while true do
    local s, e = expr:find(name, i, true)
    if not s then
      break
    end
    local before, after = expr:sub(s - 1, s - 1), expr:sub(e + 1, e + 1)
    local bounded = not before:match("[%w_$]") and not after:match("[%w_]")
    out[#out + 1] = expr:sub(i, s - 1)
    out[#out + 1] = bounded and replacement or name
    i = e + 1
  end
  out[#out + 1] = expr:sub(i)
  return table.concat(out)
end

-- An expression of the spec as C: argN, retval and the $ aliases replaced, argN@user as
-- argN (the caller reads strings through it from user space, as bcc's trace does).
function M.rewrite(p, expr)
  expr = expr:gsub("(arg[1-6])@user", "%1")
  if p.type ~= "t" and p.type ~= "u" then
    for n, name in ipairs(ARG_NAMES) do
      expr = replace_word(expr, name, M.arg_expr(p, n))
    end
  end
  for _, alias in ipairs(COMMON_ALIASES) do
    expr = replace_word(expr, alias[1], alias[2])
  end
  return expr
end

-- STRCMP("literal", expr) in filters and expressions: a helper comparing the string at expr
-- with the literal, up to and including its terminating NUL (bcc compares the literal's
-- characters only, so "ab" matched "abc"). The helpers' C goes into functions; bin_cmp
-- (trace -B) reads bytes rather than a string.
function M.rewrite_strcmp(p, expr, functions, bin_cmp)
  return (expr:gsub("STRCMP%s*(%b())", function(call)
    local literal, target = call:match('^%(%s*"(.-)"%s*,%s*(.-)%s*%)$')
    if not literal then
      bail(p.raw, "STRCMP takes a string literal and an expression: STRCMP" .. call)
    end
    local name = "__streq" .. (#functions + 1)
    local read = "bpf_probe_read_kernel"
    if M.is_user_pointer(p, target) or target:find("@user", 1, true) then
      read = "bpf_probe_read_user"
    end
    local size = #literal + 1
    functions[#functions + 1] = string.format([[
static inline bool %s(unsigned long str) {
  char needle[] = "%s";
  char haystack[%d] = {};
  if (%s(haystack, sizeof(haystack), (void *)str) < 0) return false;
  for (int i = 0; i < %d; ++i)
    if (needle[i] != haystack[i]) return false;
  return true;
}]], name, literal, size, bin_cmp and read or read .. "_str", size)
    return name .. "((unsigned long)(" .. target .. "))"
  end))
end

-- The declared parameters as locals read from their registers, at the top of the function,
-- so filters and expressions name them as bcc lets them.
function M.param_decls(p)
  local lines = {}
  for n, param in ipairs(p.params) do
    lines[#lines + 1] = string.format("  %s %s = (%s)%s;", param.type, param.name, param.type,
      M.arg_expr(p, n))
  end
  return table.concat(lines, "\n")
end

-- A USDT probe's arguments named in any of texts, as locals read with bpf_usdt_readarg at
-- the top of its function (bcc's trace and argdist give USDT arguments as arg1..arg6).
function M.usdt_arg_decls(p, ...)
  local used = table.concat({...}, "\n")
  local lines = {}
  for n, name in ipairs(ARG_NAMES) do
    if used:find("%f[%w_$]" .. name .. "%f[^%w_]") then
      lines[#lines + 1] = string.format("  u64 %s = 0; bpf_usdt_readarg(%d, ctx, &%s);", name, n, name)
    end
  end
  return table.concat(lines, "\n")
end

-- A USDT context with p's probe ("u:library:[provider:]probe") enabled as fn_name: in
-- library (a path, a library in the loader's cache, or a program on PATH), or with no
-- library in every binary process pid has mapped.
function M.usdt_context(p, fn_name, pid)
  local ok, u = pcall(function()
    if p.library == "" then
      if not pid then
        bail(p.raw, "a USDT probe with no library needs -p PID")
      end
      return require("bpflua.usdt").new{pid = pid}
    end
    local path = p.library:find("/", 1, true) and p.library or M.find_target(p)
    return require("bpflua.usdt").new{path = path, pid = pid}
  end)
  if not ok then
    error(tostring(u):find("^error in probe") and u or ("error in probe '" .. p.raw .. "': " .. tostring(u)), 0)
  end
  local probe = p.provider and (p.provider .. ":" .. p.func) or p.func
  local enabled, err = pcall(u.enable_probe, u, {probe = probe, fn_name = fn_name})
  if not enabled then
    bail(p.raw, tostring(err))
  end
  return u
end

-- Whether an expression reads through a user-space pointer: the argument of a user
-- function or a tracepoint field, or a parameter declared __user.
function M.is_user_pointer(p, expr)
  if p.library ~= "" or p.type == "t" then
    return true
  end
  for _, param in ipairs(p.params) do
    if param.user and expr == param.name then
      return true
    end
  end
  return false
end

-- C copying the string at expr into dest (an array): from the address space the pointer
-- most likely lives in (user when the spec said argN@user), then from the other one, since
-- tracepoint fields may be either.
function M.read_string(p, dest, expr, user)
  local first, second = "bpf_probe_read_kernel_str", "bpf_probe_read_user_str"
  if user or M.is_user_pointer(p, expr) then
    first, second = second, first
  end
  return string.format([[
  { const void *__s = (const void *)(%s);
    if (__s && %s(%s, sizeof(%s), __s) < 0) %s(%s, sizeof(%s), __s); }]],
    expr, first, dest, dest, second, dest, dest)
end

-- The program's pid and thread filter; uprobes also filter at attach when a pid is given.
function M.pid_filter(tgid, tid, exclude_tgid)
  local lines = {}
  if tgid then
    lines[#lines + 1] = string.format("  if (__tgid != %d) return 0;", tgid)
  end
  if tid then
    lines[#lines + 1] = string.format("  if (__pid != %d) return 0;", tid)
  end
  if exclude_tgid then
    lines[#lines + 1] = string.format("  if (__tgid == %d) return 0;", exclude_tgid)
  end
  return table.concat(lines, "\n")
end

-- #include lines for -I: paths starting with . or / as quoted absolute paths, others as
-- <header>.
function M.includes(list, cwd)
  local lines = {}
  for _, header in ipairs(list or {}) do
    if header:match("^[./]") then
      if header:sub(1, 1) ~= "/" then
        header = cwd .. "/" .. header
      end
      lines[#lines + 1] = '#include "' .. header .. '"'
    else
      lines[#lines + 1] = "#include <" .. header .. ">"
    end
  end
  return table.concat(lines, "\n")
end

-- A uprobe target as bcc finds it: a library in the loader's cache ("c" is libc), else an
-- executable on PATH ("bash"), else the path as given.
function M.find_target(p)
  local ok, path = pcall(require("bpflua").find_library, p.library)
  if ok then
    return path
  end
  local which = io.popen("command -v '" .. p.library:gsub("'", "") .. "' 2>/dev/null")
  local exe = which and which:read("*l")
  if which then
    which:close()
  end
  if exe and exe:sub(1, 1) == "/" then
    return exe
  end
  bail(p.raw, "unable to find library " .. p.library)
end

-- Attaches a p/r probe to its user function (library given) or kernel function (a kprobe).
function M.attach(b, p, fn_name, pid)
  if p.library ~= "" then
    local args = {name = M.find_target(p), sym = p.func, fn_name = fn_name, pid = pid,
      sym_off = p.offset ~= 0 and p.offset or nil}
    local ok, err = pcall(p.type == "r" and b.attach_uretprobe or b.attach_uprobe, b, args)
    if not ok then
      bail(p.raw, tostring(err))
    end
    return
  end
  if p.offset ~= 0 then
    bail(p.raw, "offsets into kernel functions are not supported")
  end
  local ok, err = pcall(p.type == "r" and b.attach_kretprobe or b.attach_kprobe, b,
    {event = p.func, fn_name = fn_name})
  if not ok then
    bail(p.raw, tostring(err))  -- the runtime's message says when the kernel has no kprobes
  end
end

-- trace's and argdist's program: the -I includes, the strcmp helpers and the probes' texts
-- put together (printed with -v), loaded with the USDT contexts of its u: probes, and its
-- p/r probes attached (t: and u: probes attach by their section names). Returns the object.
function M.load(probes, texts, strcmp_functions, opts, pid)
  local program = M.includes(opts.include, os.getenv("PWD") or ".") .. "\n" ..
    table.concat(strcmp_functions, "\n") .. "\n" .. table.concat(texts, "\n")
  if opts.verbose then
    print(program)
  end
  local contexts = {}
  for _, p in ipairs(probes) do
    if p.type == "u" then
      contexts[#contexts + 1] = M.usdt_context(p, p.name, pid)
    end
  end
  local b = require("bpflua"){text = program, usdt_contexts = #contexts > 0 and contexts or nil}
  for _, p in ipairs(probes) do
    if p.type ~= "t" and p.type ~= "u" then
      M.attach(b, p, p.name, pid)
    end
  end
  return b
end

return M
