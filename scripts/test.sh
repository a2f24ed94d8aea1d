#!/usr/bin/env bash
# Runs every spec against the real kernel (as root, after scripts/setup.sh), then the specs
# tagged #kernel again inside Debian's 6.1 kernel under QEMU (scripts/vmtest.sh: kprobes,
# which this machine's kernel lacks), then the checks (the linters, a short fuzzing run of
# each fuzz target), and ends with the line "N passed, N failed" counting all three. Under
# CI=true a spec that needs BPF fails instead of skipping.
#
# Tags: #kernel runs in the VM as well as natively; #vm runs in the VM only (spec/kernel/:
# kprobes); #native runs natively only (errors for a kernel without kprobes).
#   BPFLUA_VMTEST_KERNEL=PKG   run the VM set on another Debian kernel package
set -uo pipefail
cd "$(dirname "$0")/.."

# The specs test the build tree, not the copy installed in /usr/local: the host, the Lua
# modules, libbpflua, its compiler plugin and the BPF headers all come from build/.
tree=$PWD/build
if [ ! -x "$tree/bpflua" ]; then
  echo "no build in $tree: run scripts/setup.sh (or cmake -S . -B build && cmake --build build)"
  echo "0 passed, 1 failed"
  exit 1
fi
export PATH="$tree:$PATH"
export LUA_PATH="$tree/lua/?.lua;$tree/lua/?/init.lua;;"
export BPFLUA_LUA_DIR="$tree/lua"
export BPFLUA_BPF_DIR="$tree/bpf"
export BPFLUA_CLANG_LIB="$tree/libbpflua-clang.so"

passed=0
failed=0
# Runs busted (the command given), adds its counts to the totals; pending counts as failed.
specs() {
  local log status summary p f e pend
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  summary=$(grep -E '^[0-9]+ success(es)? / [0-9]+ failures? / [0-9]+ errors? / [0-9]+ pending' "$log" | tail -n 1)
  rm -f "$log"
  if [ -z "$summary" ]; then
    echo "busted ended without a summary (exit status $status)"
    failed=$((failed + 1))
    return
  fi
  read -r p f e pend < <(echo "$summary" | grep -oE '[0-9]+' | head -n 4 | tr '\n' ' ')
  passed=$((passed + p))
  failed=$((failed + f + e + pend))
  # busted failed without saying why
  [ "$status" -eq 0 ] || [ $((f + e + pend)) -gt 0 ] || failed=$((failed + 1))
}

busted_cmd=(busted --lua=luajit -o plainTerminal)
specs "${busted_cmd[@]}" --exclude-tags=vm spec/
echo "--- the #kernel specs in a VM (scripts/vmtest.sh${BPFLUA_VMTEST_KERNEL:+ --kernel $BPFLUA_VMTEST_KERNEL})"
# Only the files with #kernel tests: busted runs a file's setup even when its tags leave out
# every test in it, and some set up what the VM has no use for (dockerd).
mapfile -t kernel_specs < <(grep -l -e '#kernel' spec/*_spec.lua spec/kernel/*_spec.lua)
specs scripts/vmtest.sh ${BPFLUA_VMTEST_KERNEL:+--kernel "$BPFLUA_VMTEST_KERNEL"} -- \
  "${busted_cmd[@]}" --tags=kernel --exclude-tags=native "${kernel_specs[@]}"

# The checks, one line each, each one passed or failed in the total.
check() {
  local name=$1 out
  shift
  out=$(mktemp)
  if "$@" >"$out" 2>&1; then
    passed=$((passed + 1))
    echo "check $name: passed${FUZZ_LINE:+ ($(tail -n 1 "$out"))}"
  else
    failed=$((failed + 1))
    echo "check $name: FAILED"
    tail -n 40 "$out" | sed 's/^/  /'
  fi
  rm -f "$out"
}
check luacheck scripts/lint.sh luacheck
check clang-tidy scripts/lint.sh clang-tidy
for target in $(scripts/fuzz.sh --list); do
  FUZZ_LINE=1 check "fuzz $target" scripts/fuzz.sh --time "${BPFLUA_FUZZ_SECONDS:-20}" "$target"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
