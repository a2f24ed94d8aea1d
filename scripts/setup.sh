#!/usr/bin/env bash
# Sets bpflua up on a fresh Debian or Ubuntu machine (run as root): installs the packages it
# builds against, builds and installs it, then runs an example trace for three seconds.
#   scripts/setup.sh               everything
#   scripts/setup.sh --no-example  without the example trace
set -euo pipefail
cd "$(dirname "$0")/.."

# LuaJIT is OpenResty's branch (luajit2): Debian's nginx Lua module links it and cannot be
# installed beside the original's packages, and bpflua embeds in nginx (docs/metrics.md).
packages=(
  cmake make gcc g++ pkg-config
  libbpf-dev libelf-dev zlib1g-dev libzstd-dev
  libluajit2-5.1-dev luajit2 libedit-dev
  llvm-14-dev libclang-cpp14-dev libclang-14-dev libclang-common-14-dev clang-14
  lua-busted bpftrace util-linux bsdutils tmux
  qemu-system-x86 busybox-static cpio xz-utils  # scripts/vmtest.sh: the 6.1 kernel specs
  lua-http lua-cqueues prometheus curl nginx libnginx-mod-http-lua debootstrap docker.io
  lua-check clang-tidy-14 clang-format-14 libclang-rt-14-dev
  bpfcc-tools
  python3-bpfcc  # bcc, the baseline of the benchmarks in scripts/bench/
)
# USDT specs and tools: <sys/sdt.h>, Debian's python3.11 (its probes), a JDK (hotspot probes).
packages+=(systemtap-sdt-dev python3.11 default-jdk-headless)
# tcpretrans spec: network namespaces (ip netns) and the kernel's retransmit counts (ss).
packages+=(iproute2)
# JSON output (t:to_json, print_json_hist, the tools' -j): lua-cjson, loaded only when asked for.
packages+=(lua-cjson)
# Symbols specs: libc's separate debug file (BPF.sym names its static functions from it).
packages+=(libc6-dbg)
# ext4 tools' specs: an ext4 image (mkfs.ext4), loop-mounted.
packages+=(e2fsprogs)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bpflua setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr/local
cmake --build build -j "$(nproc)"
cmake --install build
ldconfig

if [ "${1:-}" != "--no-example" ]; then
  # The example runs until Ctrl-C; timeout sends it one after three seconds (exit 130).
  echo "bpflua setup: running an example trace (scripts/ringbuf_output.lua) for three seconds"
  timeout --preserve-status -s INT 3 bpflua scripts/ringbuf_output.lua || [ $? -eq 130 ]
fi
