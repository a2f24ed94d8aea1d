-- For ext4dist and ext4slower: with kprobes, the function ext4's reads go through; without,
-- the syscalls that reach ext4's read_iter, write_iter, open and fsync (bcc probes those
-- functions), and BPF C that tells an ext4 file. Timing the syscall adds the VFS's share to
-- ext4's.
local BPF = require("bpflua")

local M = {}

M.has_kprobes = io.open("/sys/bus/event_source/devices/kprobe/type") ~= nil

-- The kernel function ext4's reads go through, and the address of ext4_file_operations
-- ("0" when ext4 has its own read_iter). Before 4.10 ext4 read through
-- generic_file_read_iter: that is traced for ext4's files only, known by their file
-- operations (whose address needs CONFIG_KALLSYMS_ALL); without it the tool ends as bcc's.
function M.read_target()
  if not M.has_kprobes or #BPF.get_kprobe_functions("^ext4_file_read_iter$") > 0 then
    return "ext4_file_read_iter", "0"
  end
  for line in io.lines("/proc/kallsyms") do
    local addr, name = line:match("^(%x+) %a (%S+)")
    if name == "ext4_file_operations" then
      return "generic_file_read_iter", "0x" .. addr
    end
  end
  print("ERROR: no ext4_file_operations in /proc/kallsyms. Exiting.")
  print("HINT: the kernel should be built with CONFIG_KALLSYMS_ALL.")
  os.exit(1)
end

M.c = [[
/* ext4's files (and ext2's and ext3's, which ext4's driver serves): their superblock's magic */
static int is_ext4(struct file *file)
{
  return file && BPF_CORE_READ(file, f_inode, i_sb, s_magic) == 0xEF53;
}
]]

-- {operation, syscall, kind}: kind "fd" (args->fd names the file; pos names the tracepoint's
-- offset field where the syscall takes one) or "open" (the file is the descriptor returned).
local SYSCALLS = {
  {"read", "read", "fd"}, {"read", "pread64", "fd", pos = "pos"}, {"read", "readv", "fd"},
  {"read", "preadv", "fd", pos = "pos_l"},
  {"write", "write", "fd"}, {"write", "pwrite64", "fd", pos = "pos"}, {"write", "writev", "fd"},
  {"write", "pwritev", "fd", pos = "pos_l"},
  {"open", "open", "open"}, {"open", "openat", "open"}, {"open", "openat2", "open"},
  {"open", "creat", "open"},
  {"fsync", "fsync", "fd"}, {"fsync", "fdatasync", "fd"},
}

-- With kprobes, bcc's probes on ext4's read (read_fn, from read_target), write, open and
-- fsync: entry[op] names each one's entry function, the returns are trace_OP_return. A
-- failure ends the tool as args.fail does.
function M.attach_kprobes(b, tool, read_fn, entry)
  local functions = {read = read_fn, write = "ext4_file_write_iter", open = "ext4_file_open",
    fsync = "ext4_sync_file"}
  local ok, err = pcall(function()
    for _, op in ipairs({"read", "write", "open", "fsync"}) do
      b:attach_kprobe{event = functions[op], fn_name = entry[op]}
    end
    for _, op in ipairs({"read", "write", "open", "fsync"}) do
      b:attach_kretprobe{event = functions[op], fn_name = "trace_" .. op .. "_return"}
    end
  end)
  if not ok then
    require("bpflua.args").fail(tool, err)
  end
end

-- The probes make(operation, syscall, kind, pos) writes, for each of the syscalls whose entry
-- and exit tracepoints this kernel has, joined into one text.
function M.probes(make)
  local text = {}
  for _, s in ipairs(SYSCALLS) do
    if BPF.tracepoint_exists("syscalls", "sys_enter_" .. s[2]) and
       BPF.tracepoint_exists("syscalls", "sys_exit_" .. s[2]) then
      text[#text + 1] = make(s[1], s[2], s[3], s.pos)
    end
  end
  return table.concat(text, "\n")
end

-- The operation's name as a C string literal padded to n bytes ("read\0\0\0" for 8).
function M.literal(op, n)
  return '"' .. op .. string.rep("\\0", n - 1 - #op) .. '"'
end

return M
