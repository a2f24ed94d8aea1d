-- The functions a tool's pattern names, probed: `lib:pattern` takes uprobes on a library's
-- or program's functions, a bare pattern kprobes on the kernel's, as bcc's funclatency and
-- stackcount read their argument. The tool keeps its own wording for what goes wrong.
local attach = require("bpflua.attach")
local patterns = require("bpflua.patterns")

local M = {}

-- Attaches probe.entry (and probe.exit, at the functions' returns, when given) to every
-- function of probe.library ("" for the kernel) that probe.pattern matches, for probe.pid
-- only when given. Returns how many functions matched (0: none, nothing attached), or nil,
-- why not and the error: "library" (no such library or program) or "kprobes" (the kernel
-- refused them).
function M.attach(b, probe)
  local library, pattern = probe.library, probe.pattern
  if library ~= "" then
    local found, path = pcall(attach.find_library, library)
    if not found then
      return nil, "library", path
    end
    local matched = #patterns.user_functions(path, pattern, probe.tool)
    if matched > 0 then
      b:attach_uprobe{name = path, sym_re = pattern, fn_name = probe.entry, pid = probe.pid}
      if probe.exit then
        b:attach_uretprobe{name = path, sym_re = pattern, fn_name = probe.exit, pid = probe.pid}
      end
    end
    return matched
  end
  local matched
  local ok, err = pcall(function()
    matched = #patterns.get_kprobe_functions(pattern)
    if matched > 0 then
      b:attach_kprobe{event_re = pattern, fn_name = probe.entry}
      if probe.exit then
        b:attach_kretprobe{event_re = pattern, fn_name = probe.exit}
      end
    end
  end)
  if not ok then
    return nil, "kprobes", tostring(err)
  end
  return matched
end

return M
