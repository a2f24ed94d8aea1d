-- LuaRocks: `luarocks make` in a checkout (as root, after the Debian packages of
-- scripts/setup.sh) builds bpflua with its own CMake build and installs the same thing
-- `cmake --install` does. It needs LuaJIT (the FFI): LuaRocks sees LuaJIT as Lua 5.1.
rockspec_format = "3.0"
package = "bpflua"
version = "scm-1"

source = {
  url = "git+file:///path/to/bpflua", -- `luarocks make` builds the checkout it runs in
}

description = {
  summary = "Lua-scriptable BPF tracing: bcc-style BPF C compiled in-process, LuaJIT objects for its maps",
  detailed = [[
bpflua compiles bcc-style BPF C in-process with Clang, loads and attaches it with libbpf, and
gives LuaJIT objects for its maps and ring buffers. It installs the module bpflua for
require("bpflua") from a stock luajit, and the bpflua host (scripts and the REPL).
]],
  license = "MIT",
}

dependencies = {
  "lua == 5.1",
}

build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "RelWithDebInfo",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    -- LuaRocks moves what is in the rock's lua/ and bin/ into the tree, where require and
    -- PATH find them; the libraries and BPF headers stay in the rock's own directory, where
    -- bpflua/config.lua and the host's rpath point (the tree's lib/ would move them).
    BPFLUA_LUA_DIR = "$(LUADIR)",
    BPFLUA_LIB_DIR = "$(PREFIX)/libexec",
    CMAKE_INSTALL_BINDIR = "bin",
    -- The install's last step runs `bpflua --prepare`: the compile cache for the running
    -- kernel (vmlinux.h, the precompiled prelude) is ready before the first script.
    BPFLUA_PREPARE_ON_INSTALL = "ON",
  },
}
