#!/usr/bin/env bash
# The linters: luacheck over the Lua (.luacheckrc) and clang-tidy over runtime/*.c
# (.clang-tidy, with the build's compile_commands.json). Exits non-zero on any finding.
#   scripts/lint.sh             both
#   scripts/lint.sh luacheck    one of them
#   scripts/lint.sh clang-tidy
set -uo pipefail
cd "$(dirname "$0")/.."

run_luacheck() {
  command -v luacheck >/dev/null || { echo "luacheck is not installed (scripts/setup.sh)"; return 1; }
  luacheck --formatter plain --codes .
}

run_clang_tidy() {
  command -v clang-tidy-14 >/dev/null ||
    { echo "clang-tidy-14 is not installed (scripts/setup.sh)"; return 1; }
  [ -f build/compile_commands.json ] ||
    { echo "no build/compile_commands.json: configure the build (cmake -S . -B build)"; return 1; }
  clang-tidy-14 -p build --quiet runtime/*.c 2>&1 | grep -v "warnings generated\|^Suppressed\|^Use -header-filter"
  return "${PIPESTATUS[0]}"
}

status=0
for linter in "${@:-luacheck clang-tidy}"; do
  for l in $linter; do
    case $l in
      luacheck) run_luacheck || status=1 ;;
      clang-tidy) run_clang_tidy || status=1 ;;
      *) echo "unknown linter '$l'"; status=2 ;;
    esac
  done
done
exit $status
