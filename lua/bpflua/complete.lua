-- Tab completion for the REPL: globals, fields and methods.
--
--   complete.candidates(env, line, start)
--
-- line is the text before the cursor and start (0-based) where the word being completed
-- begins; the result lists the words that may replace it, sorted. The text before the word
-- says what to complete: `b:att` methods of b, `string.fo` fields of string, `b["ev` the
-- tables of a BPF object (the candidate closes the brackets: `events"]`), `BP` globals.
-- Only chains of names and constant subscripts are looked up, never calls, so pressing Tab
-- runs no code of the user's beyond __index.
local ffi = require("ffi")
local ctypes = require("bpflua.ctypes")
local BPF = require("bpflua.bpf")

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
      if is_name(k) and (not methods_only or type(v) == "function") then
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

local function sorted_matches(names, word, suffix)
  local list = {}
  for name in pairs(names) do
    if name:sub(1, #word) == word then
      list[#list + 1] = name .. (suffix or "")
    end
  end
  table.sort(list)
  return list
end

function M.candidates(env, line, start)
  local before, word = line:sub(1, start), line:sub(start + 1)
  local names = {}
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
