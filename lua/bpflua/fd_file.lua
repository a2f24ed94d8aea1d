-- BPF C for the tools that start from a syscall's file descriptor where bcc's start from a
-- kernel function's struct file (tcpaccept, and filetop, fileslower and vfsstat on kernels
-- without kprobes): the current task's file behind a descriptor, read through CO-RE.
--   BPF{text = require("bpflua.fd_file").c .. my_text}
local M = {}

M.c = [[
/* The current process's file behind descriptor fd, or NULL (no such descriptor). */
static struct file *file_of_fd(long fd)
{
  struct task_struct *task = (struct task_struct *)bpf_get_current_task();
  struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
  if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds)) return NULL;
  struct file **fds = BPF_CORE_READ(fdt, fd);
  struct file *file = NULL;
  bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]);
  return file;
}
]]

return M
