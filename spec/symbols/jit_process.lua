-- spec/symbols_spec.lua: a JIT in miniature. `luajit jit_process.lua WHO` puts a function in
-- anonymous executable memory (machine code that makes the getpriority(0, WHO) syscall),
-- names it in /tmp/perf-PID.map as JITs do, prints "ready <page address> <function address>",
-- then calls the function every 2 ms for at most 20 s (the spec kills it sooner).
local ffi = require("ffi")
ffi.cdef[[
void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset);
int getpid(void);
int usleep(unsigned int usec);
int close(int fd);
]]

local who = assert(tonumber(arg[1]), "usage: jit_process.lua WHO")
local PROT_RWX, MAP_PRIVATE_ANONYMOUS = 7, 0x22
local page = ffi.C.mmap(nil, 4096, PROT_RWX, MAP_PRIVATE_ANONYMOUS, -1, 0)
assert(ffi.cast("intptr_t", page) ~= -1, "mmap failed")

-- mov rsi, who; xor edi, edi; mov eax, 140 (getpriority); syscall; ret
local code = string.char(0x48, 0xc7, 0xc6) .. string.char(bit.band(who, 0xff),
  bit.band(bit.rshift(who, 8), 0xff), bit.band(bit.rshift(who, 16), 0xff), bit.band(bit.rshift(who, 24), 0xff)) ..
  string.char(0x31, 0xff, 0xb8, 0x8c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xc3)
-- The function starts 64 bytes into the page: the page's first bytes belong to no function.
local fn_addr = ffi.cast("char *", page) + 64
ffi.copy(fn_addr, code, #code)
local fn = ffi.cast("long (*)(void)", fn_addr)

local address = tonumber(ffi.cast("uintptr_t", fn_addr))
local map = assert(io.open(string.format("/tmp/perf-%d.map", ffi.C.getpid()), "w"))
map:write(string.format("%x %x jitted_getpriority_%d\n", address, #code, who))
map:close()

print(string.format("ready 0x%x 0x%x", tonumber(ffi.cast("uintptr_t", page)), address))
io.stdout:flush()
ffi.C.close(1) -- the spec reads until our output ends (io.stdout:close() leaves fd 1 open)
local deadline = os.time() + 20
while os.time() < deadline do
  fn()
  ffi.C.usleep(2000)
end
