#!/usr/bin/env bash
# Fuzzes the C parsers of untrusted text with libFuzzer (clang-14, ASan and UBSan): the
# bcc-style rewrite of the user's BPF C (fuzz/rewrite_fuzz.c) and the tracepoint format
# parser (fuzz/tracefs_format_fuzz.c). Each runs for a fixed time from a seed corpus: every
# BPF C text in spec/ and scripts/, and this machine's tracepoint format files. Prints one
# line per target, "TARGET: N execs, N crashes"; exits non-zero when any input crashed (the
# input is kept in build/fuzz/crashes/).
#   scripts/fuzz.sh                      every target, 300 seconds each
#   scripts/fuzz.sh --time 20 rewrite    one target, 20 seconds
#   scripts/fuzz.sh --list               the targets' names
set -uo pipefail
cd "$(dirname "$0")/.."

targets=(rewrite tracefs_format)
seconds=300
chosen=()
while [ $# -gt 0 ]; do
  case $1 in
    --list) printf '%s\n' "${targets[@]}"; exit 0 ;;
    --time) seconds=$2; shift 2 ;;
    *) chosen+=("$1"); shift ;;
  esac
done
[ ${#chosen[@]} -gt 0 ] || chosen=("${targets[@]}")

out=build/fuzz
mkdir -p "$out/crashes"
command -v clang-14 >/dev/null || { echo "clang-14 is not installed (scripts/setup.sh)"; exit 1; }
flags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Iruntime)
sources_rewrite=(runtime/rewrite.c runtime/diagnostic.c runtime/util.c)
sources_tracefs_format=(runtime/tracefs.c runtime/util.c)

seed() {
  local corpus=$out/seeds-$1
  rm -rf "$corpus"
  mkdir -p "$corpus"
  case $1 in
    rewrite) luajit scripts/fuzz_seeds.lua "$corpus" spec/*.lua scripts/*.lua scripts/bench/*.lua \
               >/dev/null ;;
    tracefs_format)
      # Every tenth format file: all the shapes of field (arrays, __data_loc, pointers) occur.
      local tracefs
      for tracefs in /sys/kernel/tracing /sys/kernel/debug/tracing; do
        [ -d $tracefs/events ] && break
      done
      find $tracefs/events -name format 2>/dev/null | awk 'NR % 10 == 1' | head -n 400 |
        while read -r f; do cp "$f" "$corpus/$(echo "$f" | tr / _)"; done ;;
  esac
}

status=0
for target in "${chosen[@]}"; do
  sources_var="sources_${target}[@]"
  [ -f "fuzz/${target}_fuzz.c" ] || { echo "$target: no such fuzz target"; status=1; continue; }
  binary=$out/${target}_fuzz
  if ! clang-14 "${flags[@]}" "fuzz/${target}_fuzz.c" "${!sources_var}" -o "$binary" \
       >"$out/$target.build.log" 2>&1; then
    echo "$target: does not build"; cat "$out/$target.build.log"; status=1; continue
  fi
  seed "$target"
  # A working corpus of its own, so that the seeds stay as extracted.
  work=$out/corpus-$target
  mkdir -p "$work"
  log=$out/$target.log
  # fuzz/regressions/TARGET holds inputs that once failed; they run first, every time.
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -dict="fuzz/$target.dict" -artifact_prefix="$out/crashes/$target-" \
    "$work" "$out/seeds-$target" "fuzz/regressions/$target" >"$log" 2>&1
  result=$?
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  crashes=0
  if [ $result -ne 0 ]; then
    crashes=1
    status=1
    grep -E 'ERROR: |runtime error|SUMMARY|Test unit written' "$log" | head -n 10
  fi
  echo "$target: ${execs:-0} execs, $crashes crashes"
done
exit $status
