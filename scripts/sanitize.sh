#!/usr/bin/env bash
# Runs the specs on a build of the C runtime (libbpflua and the host) with AddressSanitizer
# and UndefinedBehaviorSanitizer, in build/asan (cmake -DBPFLUA_SANITIZE=address,undefined).
# The host links the sanitizers' runtime itself; luajit, which runs busted and the specs that
# embed bpflua, gets it through LD_PRELOAD from a wrapper first on PATH, and drops it from its
# environment at start (LUA_INIT) so that the programs the specs run (curl, sh) do not get it:
# some hang under it. LeakSanitizer reports what a process leaked at its exit
# (BPFLUA_DETECT_LEAKS=0 turns it off). A report from any process fails the run, and so
# does a failed spec; the specs that cannot pass on this build are known: nginx cannot load
# an instrumented libbpflua without the sanitizer's runtime preloaded, and the uprobe on
# libc's malloc does not fire when ASan's malloc replaces it.
#   scripts/sanitize.sh [spec/NAME_spec.lua...]
set -uo pipefail
cd "$(dirname "$0")/.."

tree=$PWD/build/asan
cmake -S . -B "$tree" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBPFLUA_SANITIZE=address,undefined \
  >/dev/null || exit 1
# The compiler plugin (C++, LLVM) is not instrumented: the plain build's serves.
cmake --build "$tree" -j2 --target bpflua bpflua-host bpflua-lineedit bpflua-abi bpflua-demangle >/dev/null || exit 1
[ -f build/libbpflua-clang.so ] || cmake --build build -j2 --target bpflua-clang >/dev/null || exit 1

# luajit with the sanitizers' runtime preloaded, which its children do not inherit.
mkdir -p "$tree/bin"
cat >"$tree/bin/luajit" <<WRAPPER
#!/bin/bash
LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)" \\
  exec -a luajit $(command -v luajit) "\$@"
WRAPPER
chmod +x "$tree/bin/luajit"
# (busted's own launcher is PUC Lua, which reads LUA_INIT too and has no FFI.)
export LUA_INIT="local ok, ffi = pcall(require, 'ffi')
if ok then
  ffi.cdef('int bpflua_sanitize_unsetenv(const char *name) __asm__(\"unsetenv\");')
  ffi.C.bpflua_sanitize_unsetenv('LD_PRELOAD')
end"

export PATH="$tree/bin:$tree:$PATH"
export LUA_PATH="$tree/lua/?.lua;$tree/lua/?/init.lua;;"
export BPFLUA_LUA_DIR="$tree/lua"
export BPFLUA_BPF_DIR="$tree/bpf"
# Through a link in the tree, so that specs that find the plugin beside libbpflua find it.
ln -sf "$PWD/build/libbpflua-clang.so" "$tree/libbpflua-clang.so"
export BPFLUA_CLANG_LIB="$tree/libbpflua-clang.so"
export ASAN_OPTIONS="detect_leaks=${BPFLUA_DETECT_LEAKS:-1}:abort_on_error=0:halt_on_error=1:log_path=$tree/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$tree/ubsan"
rm -f "$tree"/asan.* "$tree"/ubsan.*

busted --lua=luajit -o plainTerminal "${@:-spec/}" 2>&1 | tail -n 40
status=${PIPESTATUS[0]}
# A sanitizer's report goes to its log file (log_path), whichever process it came from.
reports=$(ls "$tree"/asan.* "$tree"/ubsan.* 2>/dev/null)
if [ -n "$reports" ]; then
  echo "sanitizer reports:"
  for r in $reports; do echo "== $r"; head -n 40 "$r"; done
  exit 1
fi
exit "$status"
