-- Printing counted stacks as bcc's stack tools do (profile, offcputime): innermost frame
-- first, kernel frames above user frames, then "- comm (pid)" and the count; or folded, one
-- line per stack, outermost frame first, for flame graphs. A stack id below zero is a stack
-- the kernel could not store, printed as bcc prints it.
--   local report = require("bpflua.stack_report").new(b, b["stack_traces"], opts)
--   report:print(key.user_stack_id, key.kernel_stack_id, key.tgid, key.pid, name, count)
--   report:finish()   -- the lost-stacks warning on stderr, if any
-- opts: folded, delimited (-d), offset (-s), user_only (-U), kernel_only (-K), kernel_suffix
-- (appended to folded kernel frames: profile's "_[k]").
local BPF = require("bpflua")

local ENOMEM, EEXIST = 12, 17

local Report = {}
Report.__index = Report

local M = {}

function M.new(b, stacks, opts)
  return setmetatable({b = b, stacks = stacks, opts = opts, missing = 0, enomem = false}, Report)
end

-- The frames the tracing itself adds on top of a kernel stack taken in a tracepoint: the BPF
-- program and the tracepoint's call into it. bcc's tools, on kprobes, do not show them.
local PLUMBING = {"^bpf_prog_", "^bpf_trace_run", "^__traceiter_", "^__bpf_trace_"}

local function plumbing(name)
  for _, p in ipairs(PLUMBING) do
    if name:find(p) then
      return true
    end
  end
  return false
end
M.is_tracing_frame = plumbing

local function frames(self, id, name_of, strip_plumbing)
  local list = {}
  for addr in self.stacks:walk(id) do
    local name = name_of(addr)
    if not (strip_plumbing and #list == 0 and plumbing(name)) then
      list[#list + 1] = name
    end
  end
  return list
end

-- get_stackid's failures: -EFAULT (no stack, a kernel thread's user stack) is not a loss.
local function lost(id)
  return id < 0 and id ~= -14
end

function Report:print(user_id, kernel_id, tgid, pid, name, count)
  local opts = self.opts
  local want_user, want_kernel = not opts.kernel_only, not opts.user_only
  for _, id in ipairs({want_user and user_id or 0, want_kernel and kernel_id or 0}) do
    if lost(id) then
      self.missing = self.missing + 1
      self.enomem = self.enomem or id == -ENOMEM or id == -EEXIST
    end
  end
  local user = want_user and user_id >= 0 and
    frames(self, user_id, function(addr) return self.b:sym(addr, tgid, false, opts.offset) end) or {}
  local kernel = want_kernel and kernel_id >= 0 and
    frames(self, kernel_id, function(addr) return BPF.ksym(addr, false, opts.offset) end, true) or {}
  local both = user_id >= 0 and kernel_id >= 0
  if opts.folded then
    local line = {name}
    if want_user then
      if lost(user_id) then
        line[#line + 1] = "[Missed User Stack]"
      end
      for i = #user, 1, -1 do
        line[#line + 1] = user[i]
      end
    end
    if want_kernel then
      if opts.delimited and both then
        line[#line + 1] = "-"
      end
      if lost(kernel_id) then
        line[#line + 1] = "[Missed Kernel Stack]"
      end
      for i = #kernel, 1, -1 do
        line[#line + 1] = kernel[i] .. (opts.kernel_suffix or "")
      end
    end
    print(string.format("%s %d", table.concat(line, ";"), count))
    return
  end
  if want_kernel then
    if lost(kernel_id) then
      print("    [Missed Kernel Stack]")
    end
    for _, f in ipairs(kernel) do
      print("    " .. f)
    end
  end
  if want_user then
    if opts.delimited and both then
      print("    --")
    end
    if lost(user_id) then
      print("    [Missed User Stack]")
    end
    for _, f in ipairs(user) do
      print("    " .. f)
    end
  end
  print(string.format("    %-16s %s (%d)", "-", name, pid))
  print(string.format("        %d\n", count))
end

function Report:finish()
  if self.missing > 0 then
    io.stderr:write(string.format("WARNING: %d stack traces lost and could not be displayed.%s\n",
      self.missing, self.enomem and " Consider increasing --stack-storage-size." or ""))
  end
end

return M
