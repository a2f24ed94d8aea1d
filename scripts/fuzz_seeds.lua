-- Writes every BPF C text found in the given Lua files (the specs' and the scripts') to a
-- directory, one file each: the seed corpus of the rewrite fuzz target (scripts/fuzz.sh).
--   luajit scripts/fuzz_seeds.lua OUTDIR FILE.lua...
-- A text is a long string ([[...]], [==[...]==]) or a run of quoted strings joined by "..";
-- it is BPF C when it has a ; or { and names a bcc macro or a BPF helper, or defines a C
-- function.
local outdir = assert(arg[1], "usage: fuzz_seeds.lua OUTDIR FILE.lua...")

-- The string literals of a Lua file in order, each {value, first, last}; comments skipped.
local function string_literals(src)
  local found, i = {}, 1
  while i <= #src do
    local c = src:sub(i, i)
    if src:sub(i, i + 1) == "--" then
      local level = src:match("^%[(=*)%[", i + 2)
      if level then
        local _, e = src:find("]" .. level .. "]", i, true)
        i = (e or #src) + 1
      else
        i = (src:find("\n", i, true) or #src) + 1
      end
    elseif c == "[" and src:match("^%[=*%[", i) then
      local level = src:match("^%[(=*)%[", i)
      local open = i + #level + 2
      local s, e = src:find("]" .. level .. "]", open, true)
      local value = src:sub(open, (s or #src + 1) - 1):gsub("^\n", "")
      found[#found + 1] = {value = value, first = i, last = e or #src}
      i = (e or #src) + 1
    elseif c == '"' or c == "'" then
      local j = i + 1
      while j <= #src and src:sub(j, j) ~= c and src:sub(j, j) ~= "\n" do
        j = j + (src:sub(j, j) == "\\" and 2 or 1)
      end
      local chunk = loadstring("return " .. src:sub(i, j))
      local ok, value = pcall(chunk or error)
      found[#found + 1] = {value = ok and value or "", first = i, last = j}
      i = j + 1
    else
      i = i + 1
    end
  end
  return found
end

-- Literals joined by .. (and nothing else between them) make one text.
local function texts(src)
  local joined, literals = {}, string_literals(src)
  local k = 1
  while k <= #literals do
    local value, last = literals[k].value, literals[k].last
    while literals[k + 1] and src:sub(last + 1, literals[k + 1].first - 1):match("^%s*%.%.%s*$") do
      k = k + 1
      value, last = value .. literals[k].value, literals[k].last
    end
    joined[#joined + 1] = value
    k = k + 1
  end
  return joined
end

local function is_bpf_c(text)
  if not text:find("[;{]") then
    return false
  end
  return text:find("BPF_%u") or text:find("TRACEPOINT_PROBE") or text:find("bpf_[%w_]+%(") or
    text:find("%f[%w_][%w_]+%s+%**[%w_]+%s*%([^)]*%)%s*{")
end

local seen, count = {}, 0
for i = 2, #arg do
  local f = assert(io.open(arg[i]))
  local src = f:read("*a")
  f:close()
  for _, text in ipairs(texts(src)) do
    if not seen[text] and is_bpf_c(text) then
      seen[text] = true
      count = count + 1
      local out = assert(io.open(string.format("%s/seed-%04d.c", outdir, count), "wb"))
      out:write(text)
      out:close()
    end
  end
end
print(count .. " BPF texts")
