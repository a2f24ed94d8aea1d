#!/usr/bin/env bash
# Builds the bpflua container image from Debian packages alone (no image registry needed):
# debootstrap a Debian rootfs, install the libraries bpflua runs with, install bpflua from a
# build tree into it, and `docker import` the result.
#   deploy/container/build.sh [TAG]      (as root, after scripts/setup.sh; default bpflua:latest)
# The rootfs with its packages is cached in /var/cache/bpflua-image, so a rebuild after a
# change to bpflua takes seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${1:-bpflua:latest}
cache=/var/cache/bpflua-image
suite=bookworm

# What bpflua needs at run time: its libraries, LuaJIT, lua-http for the exporter, and the
# headers BPF programs compile against (libbpf's, Clang's own, the C library's UAPI ones).
runtime_packages=(
  libbpf1 libelf1 zlib1g libzstd1 libedit2 libstdc++6 libtinfo6
  luajit2 libluajit2-5.1-2 lua-http lua-cqueues
  libbpf-dev libclang-common-14-dev linux-libc-dev
)

if [ ! -d build ] || [ ! -x build/bpflua ]; then
  echo "build.sh: no build tree; run scripts/setup.sh first" >&2
  exit 1
fi
for tool in debootstrap docker; do
  command -v "$tool" >/dev/null || {
    echo "build.sh: installing $tool"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      "$( [ "$tool" = docker ] && echo docker.io || echo "$tool" )"
  }
done

# The same Debian mirror this machine's apt uses.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
[ -n "$mirror" ] || { echo "build.sh: cannot find a Debian mirror in /etc/apt" >&2; exit 1; }

mkdir -p "$cache"
base="$cache/$suite-base.tar"
key=$(echo "${runtime_packages[*]}" | sha256sum | cut -c1-12)
if [ ! -f "$base" ] || [ "$(cat "$cache/$suite-base.key" 2>/dev/null)" != "$key" ]; then
  echo "build.sh: debootstrapping $suite with bpflua's run-time packages (once)"
  work=$(mktemp -d "$cache/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  debootstrap --variant=minbase "$suite" "$work" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  chroot "$work" /bin/sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends ${runtime_packages[*]} && apt-get clean && rm -rf /var/lib/apt/lists/*" \
    >"$cache/packages.log" 2>&1 || { tail -20 "$cache/packages.log" >&2; exit 1; }
  tar -C "$work" -cf "$base.tmp" .
  mv "$base.tmp" "$base"
  echo "$key" >"$cache/$suite-base.key"
  rm -rf "$work"
  trap - EXIT
fi

# The image: the cached rootfs plus bpflua, installed where the build tree expects it.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$base"
DESTDIR="$root" cmake --install build >/dev/null
mkdir -p "$root/usr/local/share/bpflua/scripts" "$root/etc/bpflua"
cp scripts/exporter.lua "$root/usr/local/share/bpflua/scripts/"
cp -r scripts/exporter "$root/usr/local/share/bpflua/scripts/"
cp scripts/exporter/syscalls.lua "$root/etc/bpflua/exporter.lua"
chroot "$root" ldconfig
tar -C "$root" -c . | docker import \
  -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  -c 'ENV BPFLUA_CACHE_DIR=/var/cache/bpflua' \
  -c 'EXPOSE 9435' \
  -c 'CMD ["bpflua", "/usr/local/share/bpflua/scripts/exporter.lua", "--listen", "0.0.0.0:9435", "/etc/bpflua/exporter.lua"]' \
  - "$tag" >/dev/null
echo "build.sh: built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1 / 1e6}'))"
