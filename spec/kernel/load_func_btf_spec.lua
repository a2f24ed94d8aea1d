-- load_func for the types the development kernel refuses (TRACING: fentry/fexit; LSM) and
-- inode storage, which needs the BPF LSM: run in Debian's 6.1 kernel under QEMU
-- (scripts/vmtest.sh, booted with lsm=...,bpf); tagged #vm so that the native run leaves it
-- out. On this machine spec/load_func_spec.lua checks the refusal's message instead.
-- Until the native run leaves #vm files out by their tag, a kernel without kprobes (the
-- development VM, where none of this can load) defines no tests here.
local kprobes = io.open("/sys/bus/event_source/devices/kprobe/type")
if not kprobes then
  return
end
kprobes:close()

local BPF = require("bpflua")
local ffi = require("ffi")
local h = require("spec.helpers")

pcall(ffi.cdef, "int open(const char *path, int flags, ...); int close(int fd);")

local function fd_prog_type(fd)
  local f = assert(io.open("/proc/self/fdinfo/" .. fd))
  local text = f:read("*a")
  f:close()
  return tonumber(text:match("prog_type:%s*(%d+)"))
end

describe("load_func with BTF attach points #kernel #vm", function()
  setup(function()
    assert(h.require_bpf())
  end)

  it("loads kfunc__/kretfunc__ functions as TRACING and lsm__ functions as LSM", function()
    local b = BPF{text = [[
      BPF_INODE_STORAGE(opened, u64);
      int kfunc__vfs_read(void *ctx) { return 0; }
      int kretfunc__vfs_read(void *ctx) { return 0; }
      int lsm__file_open(unsigned long long *ctx) {
        struct file *file = (struct file *)ctx[0];
        u64 *n = opened.inode_storage_get(file->f_inode, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
        if (n) *n += 1;
        return 0;
      }
    ]]}
    for _, name in ipairs{"kfunc__vfs_read", "kretfunc__vfs_read"} do
      local f = b:load_func(name, BPF.TRACING)
      assert.are.equal(BPF.TRACING, fd_prog_type(f.fd))
    end
    local f = b:load_func("lsm__file_open", BPF.LSM)
    assert.are.equal(BPF.LSM, fd_prog_type(f.fd))
    -- Inode storage, from C and from Lua. lsm__file_open is also bcc's LSM_PROBE convention,
    -- attached at load, so it counts the opens of the file (by path or fd, the same inode).
    local path = os.tmpname()
    local fd = ffi.C.open(path, 0)
    assert.is_true(b.opened:get(fd) >= 1)
    b.opened:set(fd, 7)
    assert.are.equal(7, b.opened:get(fd))
    b.opened:delete(fd)
    assert.is_nil(b.opened:get(fd))
    assert.are.equal(1, b.opened:get(path)) -- get(path) opens it: one more open, counted anew
    ffi.C.close(fd)
    os.remove(path)
    b:cleanup()
  end)
end)
