-- Tab completion for the REPL: globals, fields and methods, and names inside strings.
--
--   complete.candidates(env, line, start)
--
-- line is the text before the cursor and start (0-based) where the word being completed
-- begins; the result lists the words that may replace it, sorted. The text before the word
-- says what to complete: `b:att` methods of b, `string.fo` fields of string, `b["ev` the
-- tables of a BPF object (the candidate closes the brackets: `events"]`), `BP` globals.
-- Inside a string that a call takes: tracepoint names (`tracepoints("sched:sched_sw`,
-- `fields("`, `b:attach_tracepoint("`, `tp = "`), table names (`b:get_table("ev`), kernel
-- struct names (`struct("task_`).
-- Only chains of names and constant subscripts are looked up, never calls, so pressing Tab
-- runs no code of the user's beyond __index. bpflua's own internals (names that begin with
-- "_", metamethods, constructors) are not offered: only what a user calls.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")
local BPF = require("bpflua.bpf")
local errors = require("bpflua.errors")

local M = {}

local keywords = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
  "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}

local function is_name(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil
end

-- The value a chain such as `a.b["c"][1]` names in env, or nil.
local function lookup(env, chain)
  local first, rest = chain:match("^([%a_][%w_]*)(.*)$")
  if not first then
    return nil
  end
  local ok, value = pcall(function() return env[first] end)
  while ok and rest ~= "" do
    -- nil, or a NULL pointer: reading its fields would crash the process
    if value == nil then
      return nil
    end
    local name, after = rest:match("^%.([%a_][%w_]*)(.*)$")
    if not name then
      local quoted
      quoted, after = rest:match("^%[%s*(%b\"\")%s*%](.*)$")
      if not quoted then
        quoted, after = rest:match("^%[%s*(%b'')%s*%](.*)$")
      end
      if quoted then
        name = quoted:sub(2, -2)
      else
        name, after = rest:match("^%[%s*(%-?%d+)%s*%](.*)$")
        name = tonumber(name)
      end
    end
    if name == nil then
      return nil
    end
    local container = value
    ok, value = pcall(function() return container[name] end)
    rest = after
  end
  return ok and value or nil
end

-- Functions of bpflua's that its users do not call by name: constructors (BPF{...} and
-- b["t"] make objects) and type tests used inside bpflua.
local internal = {new = true, is_object = true}

local function is_internal(name, v)
  if internal[name] and type(v) == "function" then
    local info = debug.getinfo(v, "S")
    return errors.is_own_source(info.source)
  end
  return false
end

-- Adds the names a value answers to: its own keys, then those of its metatable's __index
-- chain (and __methods, where __index is a function: BPF objects).
local function add_names(names, value, methods_only, seen)
  seen = seen or {}
  local kind = type(value)
  if kind == "string" then
    return add_names(names, string, methods_only, seen)
  end
  if (kind ~= "table" and kind ~= "cdata" and kind ~= "userdata") or seen[value] then
    return
  end
  seen[value] = true
  if kind == "table" then
    for k, v in pairs(value) do
      if is_name(k) and (not methods_only or type(v) == "function") and not is_internal(k, v) then
        names[k] = true
      end
    end
  elseif kind == "cdata" and not methods_only then
    local ok, fields = pcall(ctypes.fields, ffi.typeof(value))
    for _, field in ipairs(ok and fields or {}) do
      names[field.name] = true
    end
  end
  local mt = kind == "table" and getmetatable(value) or nil
  if type(mt) == "table" then
    if type(mt.__index) == "table" then
      add_names(names, mt.__index, methods_only, seen)
    end
    if type(mt.__methods) == "table" then
      add_names(names, mt.__methods, methods_only, seen)
    end
  end
end

-- The names a subscript `v["` may complete: a BPF object's tables, a table's string keys.
local function add_keys(names, value)
  if BPF.is_object(value) then
    if value._handle == nil then
      return -- cleaned up: it has no tables any more
    end
    for _, name in ipairs(value:table_names()) do
      names[name] = true
    end
  elseif type(value) == "table" then
    for k in pairs(value) do
      if type(k) == "string" then
        names[k] = true
      end
    end
  end
end

-- The names that begin with word, sorted. Names that begin with "_" (private, or metamethods
-- such as __tostring) only when the word does too: _G and _VERSION stay at hand.
local function sorted_matches(names, word, suffix)
  local list = {}
  local private_too = word:sub(1, 1) == "_"
  for name in pairs(names) do
    if name:sub(1, #word) == word and (private_too or name:sub(1, 1) ~= "_") then
      list[#list + 1] = name .. (suffix or "")
    end
  end
  table.sort(list)
  return list
end

-- ---- Inside strings -------------------------------------------------------------------------

-- Where an unfinished quoted string begins in text (the offset of its quote) and the quote.
local function open_string(text)
  local i, quote, at = 1, nil, nil
  while i <= #text do
    local c = text:sub(i, i)
    if quote then
      if c == "\\" then
        i = i + 1
      elseif c == quote then
        quote = nil
      end
    elseif c == "\"" or c == "'" then
      quote, at = c, i
    elseif c == "-" and text:sub(i, i + 1) == "--" then
      return nil -- a comment
    end
    i = i + 1
  end
  if quote then
    return at, quote
  end
end

-- The calls whose string argument names a tracepoint ("category:event"); fields and
-- tracepoints also take an event alone (or a pattern).
local tracepoint_calls = {
  tracepoints = "event", fields = "event", attach_tracepoint = "category",
  detach_tracepoint = "category", tracepoint_exists = "category", tp = "category",
}

-- Tracepoint names that continue prefix: categories ("sched:") while there is no colon, then
-- "category:event" names closed with the quote.
local function tracepoint_candidates(prefix, quote, events_too)
  local names = {}
  local ok, events = pcall(require("bpflua.explore").available_events, "complete")
  if not ok then
    return names
  end
  local with_colon = prefix:find(":", 1, true) ~= nil
  for _, name in ipairs(events) do
    if with_colon then
      if name:sub(1, #prefix) == prefix then
        names[name .. quote] = true
      end
    else
      local category, event = name:match("^([^:]+):(.+)$")
      if category and category:sub(1, #prefix) == prefix then
        names[category .. ":"] = true
      end
      if events_too and event and event:sub(1, #prefix) == prefix then
        names[event .. quote] = true
      end
    end
  end
  return names
end

-- Candidates for the word inside an unfinished string, or nil when the string is not an
-- argument that names something.
local function string_candidates(env, before, word)
  local at, quote = open_string(before)
  if not at then
    return nil
  end
  local head = before:sub(1, at - 1)
  local typed = before:sub(at + 1) .. word -- the string so far
  local names
  local call = head:match("([%a_][%w_]*)%s*%(%s*$") or head:match("([%a_][%w_]*)%s*=%s*$")
  if call and tracepoint_calls[call] then
    names = tracepoint_candidates(typed, quote, tracepoint_calls[call] == "event")
  elseif call == "struct" then
    names = {}
    local ok, records = pcall(function() return require("bpflua.kernel_btf").record_names() end)
    for _, name in ipairs(ok and records or {}) do
      names[name .. quote] = true
    end
  elseif call == "get_table" then
    -- Closed with the quote into a table of their own: adding keys to the table pairs() is
    -- walking leaves the walk undefined (some names came out unclosed, or closed twice).
    local tables = {}
    local chain = head:match("([%w_%.%[%]\"']*):%s*get_table%s*%(%s*$")
    add_keys(tables, chain and lookup(env, chain))
    names = {}
    for name in pairs(tables) do
      names[name .. quote] = true
    end
  else
    return nil
  end
  -- The candidates replace the word, which begins after the string's last break character.
  local done = #typed - #word
  local list = {}
  for name in pairs(names) do
    if name:sub(1, #typed) == typed then
      list[#list + 1] = name:sub(done + 1)
    end
  end
  table.sort(list)
  return list
end

function M.candidates(env, line, start)
  local before, word = line:sub(1, start), line:sub(start + 1)
  local names = {}
  local in_string = string_candidates(env, before, word)
  if in_string then
    return in_string
  end
  -- b["ev  or  b['ev
  local chain, quote = before:match("([%w_%.%[%]\"']*)%[%s*([\"'])$")
  if chain then
    add_keys(names, lookup(env, chain))
    return sorted_matches(names, word, quote .. "]")
  end
  -- b:att  or  string.fo
  local separator
  chain, separator = before:match("([%w_%.%[%]\"']*)([:.])$")
  if chain then
    if chain:match("^%d*$") then
      return {} -- a number's decimal point
    end
    add_names(names, lookup(env, chain), separator == ":")
    return sorted_matches(names, word)
  end
  add_names(names, env)
  for _, keyword in ipairs(keywords) do
    names[keyword] = true
  end
  return sorted_matches(names, word)
end

return M
