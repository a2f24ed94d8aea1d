#!/bin/sh
# Installs the language runtimes whose processes the bcc compatibility runner starts as the
# tools' targets (scripts/bcc_compat/targets.lua lists them with their packages), so that
# javacalls, rubycalls, phpcalls, ... have a process to trace. Not part of scripts/setup.sh:
# only the runner needs them, and they are large. Run as root.
set -eu
here=$(dirname "$0")
packages=$(sed -n 's/.*package = "\([^"]*\)".*/\1/p' "$here/targets.lua" | sort -u)
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bcc_compat targets: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # shellcheck disable=SC2086
  apt-get install -y -q --no-install-recommends $missing
fi
