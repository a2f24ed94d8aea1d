-- Where BPF C given as text sits in the Lua script that gave it, so that a compiler error
-- points into the script as bpftrace's point into its program:
--
--   script.lua:7:14: error: use of undeclared identifier 'x'
--
-- instead of "<text>:2:14". The C is found as a string literal of the calling script whose
-- contents equal the text: a [[ ]] or [==[ ]==] string (Lua drops a newline right after the
-- opening bracket, so text line 1 is the line after it then) or a quoted string without
-- escapes, in the BPF{...} call itself or anywhere else in the file (a variable defined
-- earlier). Text built at run time matches no literal and keeps "<text>". Only a failed
-- compile pays for this: the script is read and scanned then, never on success.
--
--   local where = text_position.locate(debug.getinfo(level, "Sl"), text)
--   local where = text_position.locate_in_caller(text)
--   message = text_position.rewrite(message, "<text>", where)
local M = {}

-- The byte offset at which each line starts.
local function line_starts(code)
  local starts, pos = {1}, 1
  while true do
    local nl = code:find("\n", pos, true)
    if not nl then
      return starts
    end
    pos = nl + 1
    starts[#starts + 1] = pos
  end
end

-- The line and column of a byte offset.
local function line_col(starts, offset)
  local lo, hi = 1, #starts
  while lo < hi do
    local mid = math.floor((lo + hi + 1) / 2)
    if starts[mid] <= offset then
      lo = mid
    else
      hi = mid - 1
    end
  end
  return lo, offset - starts[lo] + 1
end

-- The string literals of a Lua chunk whose contents are known without decoding escapes:
-- {content =, first =, last =} with the byte offsets of the contents' first character and
-- of the literal's end. Comments are skipped, so a commented-out copy does not count.
local function literals(code)
  local found, pos, len = {}, 1, #code
  while pos <= len do
    local at, _, what = code:find("([%-%[\"'])", pos)
    if not at then
      break
    end
    if what == "-" then
      if code:sub(at, at + 1) ~= "--" then
        pos = at + 1
      else
        local level = code:match("^%[(=*)%[", at + 2)
        if level then
          local _, close = code:find("]" .. level .. "]", at + 2, true)
          pos = (close or len) + 1
        else
          pos = (code:find("\n", at, true) or len) + 1
        end
      end
    elseif what == "[" then
      local level = code:match("^%[(=*)%[", at)
      if not level then
        pos = at + 1
      else
        local first = at + #level + 2
        -- Lua drops the line break that follows the opening bracket.
        local skip = code:match("^\r\n", first) or code:match("^\n\r", first) or
          code:match("^[\r\n]", first)
        first = first + (skip and #skip or 0)
        local close_at, close_end = code:find("]" .. level .. "]", first, true)
        if not close_at then
          break
        end
        found[#found + 1] = {content = code:sub(first, close_at - 1), first = first, last = close_end}
        pos = close_end + 1
      end
    else -- a quoted string: up to the same quote that no backslash escapes
      local i, escaped = at + 1, false
      while i <= len do
        local c = code:sub(i, i)
        if c == "\\" then
          escaped = true
          i = i + 2
        elseif c == what or c == "\n" then
          break
        else
          i = i + 1
        end
      end
      if not escaped then
        found[#found + 1] = {content = code:sub(at + 1, i - 1), first = at + 1, last = i}
      end
      pos = i + 1
    end
  end
  return found
end

-- Chunks that are not files, by chunk name: the REPL keeps its current input here, so that
-- text typed at the prompt gets "stdin:3:9" as its Lua errors get "stdin:3:".
local chunks = {}

function M.remember_chunk(chunk_name, code)
  chunks[chunk_name] = code
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local code = f:read("*a")
  f:close()
  return code
end

-- Where text begins in the script of a caller (info: debug.getinfo(level, "Sl") of the frame
-- that passed it): {name = "script.lua", line =, col =}, or nil when it cannot be found.
-- Of several literals with the same contents, the one nearest the call wins.
function M.locate(info, text)
  if not info or type(text) ~= "string" or text == "" then
    return nil
  end
  local code = chunks[info.source]
  if not code and info.source:sub(1, 1) == "@" then
    code = read_file(info.source:sub(2))
  end
  if not code then
    return nil
  end
  local starts = line_starts(code)
  local call_line = info.currentline or 0
  local best, best_distance
  for _, literal in ipairs(literals(code)) do
    if literal.content == text then
      local first_line = line_col(starts, literal.first)
      local last_line = line_col(starts, literal.last)
      local distance
      if first_line <= call_line and call_line <= last_line then
        distance = 0
      elseif first_line > call_line then
        distance = first_line - call_line
      else
        distance = call_line - last_line
      end
      if not best or distance < best_distance then
        best, best_distance = literal, distance
      end
    end
  end
  if not best then
    return nil
  end
  local line, col = line_col(starts, best.first)
  return {name = info.short_src, line = line, col = col}
end

-- locate() for the first caller outside bpflua's modules.
function M.locate_in_caller(text)
  local level = require("bpflua.errors").user_level()
  return level > 0 and M.locate(debug.getinfo(level, "Sl"), text) or nil
end

-- What locate() needs later, for errors that come after the call that gave the text (a
-- program loaded by attach_kprobe): the caller's source and line, and the text. Cheap: the
-- script is read only if an error needs it.
function M.origin(text)
  local level = require("bpflua.errors").user_level()
  local info = level > 0 and debug.getinfo(level, "Sl")
  return info and {source = info.source, short_src = info.short_src, currentline = info.currentline,
    text = text} or nil
end

-- rewrite() for the text of an origin (nil: message as it is).
function M.rewrite_from(message, text_name, origin)
  return origin and M.rewrite(message, text_name, M.locate(origin, origin.text)) or message
end

-- The script's line and column of a line and column of the text; nil for line 0 (the
-- compiler's "no line"), which keeps the text's name.
local function map(where, line, col)
  if line == 0 then
    return nil
  elseif line == 1 then
    return where.line, col and where.col + col - 1
  end
  return where.line + line - 1, col
end

local function escape(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- message with every "<text>:L:C" and "<text>:L" of the text named text_name turned into the
-- script's file, line and column, and the line numbers of the quoted source lines
-- ("    2 | ...", under a diagnostic) into the script's. Unchanged when where is nil.
function M.rewrite(message, text_name, where)
  if not where then
    return message
  end
  local name = escape(text_name)
  local out = {}
  local quoting = false -- the previous line was a diagnostic or its quoted source
  for line in (message .. "\n"):gmatch("(.-)\n") do
    local was_diagnostic = line:find("^" .. name .. ":%d+:%d+: ") ~= nil
    line = line:gsub(name .. ":(%d+):(%d+)", function(l, c)
      local new_line, new_col = map(where, tonumber(l), tonumber(c))
      return new_line and (where.name .. ":" .. new_line .. ":" .. new_col)
    end)
    line = line:gsub(name .. ":(%d+)", function(l)
      local new_line = map(where, tonumber(l))
      return new_line and (where.name .. ":" .. new_line)
    end)
    if quoting then
      local number, rest = line:match("^%s*(%d+)( | .*)$")
      if number and number ~= "0" then
        line = string.format("%5d", (map(where, tonumber(number)))) .. rest
      end
    end
    quoting = was_diagnostic or (quoting and line:find("^%s*%d* | ") ~= nil)
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

return M
