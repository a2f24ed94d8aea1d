#!/usr/bin/env bash
# Boots a Debian kernel in QEMU and runs a command in it, as root, against this machine's own
# files; exits with the command's status. This is how bpflua is tested on a kernel that has
# what the development machine lacks (kprobes, fentry, BPF LSM).
#
#   scripts/vmtest.sh [--kernel PKG] [--mem SIZE] [--timeout SECONDS] -- COMMAND [ARGS...]
#
#   --kernel PKG     a Debian kernel image package (default: the newest
#                    linux-image-6.1.0-*-amd64-unsigned, the 6.1 LTS kernel)
#   --mem SIZE       guest memory, as QEMU's -m takes it (default 2G)
#   --timeout SECS   power the guest off after this long (default 1800); exit status 124
#
# How: the host's / is shared read-only over 9p and mounted in the guest under a tmpfs
# overlay, so the guest sees every file here (the build tree, /usr/local, busted) and its
# writes vanish at power-off. A busybox initramfs loads the kernel package's virtio, 9p and
# overlay modules, builds that root, mounts the kernel's filesystems (proc, sys, devtmpfs,
# tracefs, debugfs, bpffs, securityfs), chroots into it and runs COMMAND in the current
# directory with PATH, CI, LUA_PATH, LUA_CPATH, LD_LIBRARY_PATH and BPFLUA_* passed in.
# The serial console is the only way out, so the guest prints an end marker carrying the
# command's exit status and powers off.
#
# bpflua's cache (BPFLUA_CACHE_DIR) is a second, writable 9p share of build/vmtest-cache:
# compiling in the guest is ~10x slower than natively (TCG), so the precompiled prelude and
# compiled objects must outlive one boot.
#
# Everything comes from Debian packages: qemu-system-x86, busybox-static and cpio are
# installed if missing, the kernel package is fetched with `apt-get download` and the parts
# used (vmlinuz and a few modules) are kept in /var/cache/bpflua-vm, so a second run boots
# in seconds. KVM is not used: on the development machines a KVM guest hangs at boot, and
# TCG boots this kernel to userspace in ~5 s.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
kernel_pkg=""
mem=2G
timeout_s=1800

usage() {
  sed -n '6,12s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernel_pkg=${2:?--kernel needs a package name}; shift 2 ;;
    --mem) mem=${2:?--mem needs a size}; shift 2 ;;
    --timeout) timeout_s=${2:?--timeout needs seconds}; shift 2 ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) echo "vmtest: unknown option '$1' (the command goes after --)" >&2; usage ;;
  esac
done
[ $# -gt 0 ] || usage
[ "$(id -u)" -eq 0 ] || { echo "vmtest: run as root (QEMU exports / with root's view)" >&2; exit 2; }

log() { echo "vmtest: $*" >&2; }

# --- host packages -------------------------------------------------------------------------

apt_updated=""
apt_update() {
  if [ -z "$apt_updated" ]; then
    apt-get update -q >&2
    apt_updated=1
  fi
}

missing=()
for p in qemu-system-x86 busybox-static cpio xz-utils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# --- the kernel ----------------------------------------------------------------------------

newest_default_kernel() {
  apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
    grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -n 1
}
candidate_version() {
  apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | grep -v '(none)' || true
}

if [ -z "$kernel_pkg" ]; then
  kernel_pkg=$(newest_default_kernel)
  if [ -z "$kernel_pkg" ]; then
    apt_update # a fresh machine may have no package lists yet
    kernel_pkg=$(newest_default_kernel)
  fi
  [ -n "$kernel_pkg" ] || { log "no linux-image-6.1.0-*-amd64-unsigned package in apt's lists"; exit 2; }
fi
version=$(candidate_version "$kernel_pkg")
if [ -z "$version" ]; then
  apt_update
  version=$(candidate_version "$kernel_pkg")
fi
[ -n "$version" ] || { log "apt knows no package '$kernel_pkg'"; exit 2; }

# Modules the initramfs needs to reach the shared root; their dependencies are added from
# each module's own modinfo, as the package has no modules.dep. A module not in the package
# is taken to be built into the kernel. loop and ext4 (with crc32c for its checksums) let
# specs mount an ext4 image (the ext4 tools' specs).
wanted_modules="virtio_pci 9pnet_virtio 9p overlay loop ext4 crc32c_generic"
# Modules kept beside them but not loaded at boot: a command that needs one loads it (and the
# dependencies before it, in the order of $BPFLUA_VMTEST_MODULES/order) with insmod.
optional_modules="btrfs xfs md_mod nfs nfsv4"
# A copy fetched for another list of modules is fetched again.
fetched_for() { [ "$(cat "$1/modules/wanted" 2>/dev/null)" = "$wanted_modules" ]; }
optional_fetched() { [ "$(cat "$1/optional/wanted" 2>/dev/null)" = "$optional_modules" ]; }

kdir=/var/cache/bpflua-vm/${kernel_pkg}_${version}
if [ ! -s "$kdir/vmlinuz" ] || [ ! -f "$kdir/modules/order" ] || ! fetched_for "$kdir" ||
   ! optional_fetched "$kdir"; then
  log "fetching $kernel_pkg $version"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "${new:-}"' EXIT
  # apt's sandbox user cannot write into a root-only temporary directory.
  (cd "$tmp" && apt-get -q -o APT::Sandbox::User=root download "$kernel_pkg=$version" >&2)
  dpkg-deb -x "$tmp"/*.deb "$tmp/root"
  mkdir -p "$(dirname "$kdir")"
  new=$(mktemp -d "$kdir.new.XXXXXX") # a copy of its own, should two runs fetch at once
  mkdir -p "$new/modules" "$new/optional"
  cp "$tmp"/root/boot/vmlinuz-* "$new/vmlinuz"

  # name -> file, with "-" as "_" as the kernel spells module names.
  declare -A module_file=()
  while IFS= read -r f; do
    name=$(basename "$f"); name=${name%%.ko*}; name=${name//-/_}
    module_file[$name]=$f
  done < <(find "$tmp/root/lib/modules" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst')

  declare -A placed=()
  order=()
  place() { # depth-first: dependencies before the module that needs them
    local name=$1 file deps dep
    [ -n "${placed[$name]:-}" ] && return
    placed[$name]=1
    file=${module_file[$name]:-}
    [ -n "$file" ] || return 0
    case "$file" in
      *.xz) xz -dc "$file" > "$new/$dest/$name.ko" ;;
      *.zst) zstd -qdc "$file" > "$new/$dest/$name.ko" ;;
      *) cp "$file" "$new/$dest/$name.ko" ;;
    esac
    deps=$(grep -a -o -m 1 'depends=[A-Za-z0-9_,-]*' "$new/$dest/$name.ko" | head -n 1 || true)
    deps=${deps#depends=}
    for dep in ${deps//,/ }; do
      place "${dep//-/_}"
    done
    order+=("$name")
  }
  dest=modules
  for m in $wanted_modules; do
    place "$m"
  done
  printf '%s\n' "${order[@]}" > "$new/modules/order"
  # Those loaded at boot are not repeated.
  dest=optional order=()
  for m in $optional_modules; do
    place "$m"
  done
  printf '%s\n' "${order[@]}" > "$new/optional/order"
  echo "$optional_modules" > "$new/optional/wanted"
  echo "$wanted_modules" > "$new/modules/wanted"
  # Another vmtest.sh may have fetched the same package meanwhile: keep its complete copy.
  if [ -s "$kdir/vmlinuz" ] && [ -f "$kdir/modules/order" ] && fetched_for "$kdir" &&
     optional_fetched "$kdir"; then
    rm -rf "$new"
  else
    rm -rf "$kdir"
    mv "$new" "$kdir"
  fi
  rm -rf "$tmp"
  trap - EXIT
fi

# --- the initramfs -------------------------------------------------------------------------

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cache_dir=${BPFLUA_BUILD_DIR:-$repo/build}/vmtest-cache
# bpflua trusts a cache directory only if it is root's and writable by no one else.
mkdir -p "$cache_dir"
chown root:root "$cache_dir"
chmod 0700 "$cache_dir"

# A marker the command's own output cannot contain by accident.
marker="vmtest-exit-status-$(od -An -N8 -tx8 /dev/urandom | tr -d ' ')="

# The command, as bash will read it in the guest: the environment it needs, then the
# command itself, each word quoted.
{
  echo "export HOME=/root LANG=C.UTF-8"
  for v in PATH CI LUA_PATH LUA_CPATH LD_LIBRARY_PATH TERM $(compgen -e | grep '^BPFLUA_' || true); do
    [ -n "${!v+set}" ] && printf 'export %s=%q\n' "$v" "${!v}"
  done
  printf 'export BPFLUA_CACHE_DIR=%q\n' "$cache_dir"
  # Tells specs they run in the VM, where what the VM is for (kprobes) must work.
  printf 'export BPFLUA_VMTEST=%q\n' "${kernel_pkg}_${version}"
  printf 'export BPFLUA_VMTEST_MODULES=%q\n' "$kdir/optional"
  printf 'cd %q || exit 125\n' "$PWD"
  printf 'exec'
  printf ' %q' "$@"
  printf '\n'
} > "$work/command"

mkdir -p "$work/root"/{bin,dev,proc,sys,lower,rw,newroot,modules}
cp /bin/busybox "$work/root/bin/busybox"
cp "$kdir"/modules/* "$work/root/modules/"
cp "$work/command" "$work/root/command"
cat > "$work/root/init" <<EOF
#!/bin/busybox sh
# PID 1 of the guest: reach the host's files, run the command, report its status, power off.
/bin/busybox --install -s /bin
export PATH=/bin
marker='$marker'
cache_dir='$cache_dir'
EOF
cat >> "$work/root/init" <<'EOF'
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
  echo "vmtest guest: $*"
  echo "${marker}125"
  poweroff -f
}

# Load in dependency order; retry the ones that fail, since a module can find a symbol or a
# device missing until an earlier one has finished probing.
left=$(cat /modules/order)
for attempt in 1 2 3 4 5 6 7 8 9 10; do
  next=""
  for m in $left; do
    insmod "/modules/$m.ko" 2>/dev/null || grep -q "^$m " /proc/modules || next="$next $m"
  done
  left=$next
  [ -z "$left" ] && break
  sleep 0.2
done
[ -z "$left" ] || fail "cannot load modules:$left"

# The 9p channel appears once the virtio device is probed: retry briefly.
mount9p() { # tag dir options
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    mount -t 9p -o "trans=virtio,version=9p2000.L,msize=512000,$3" "$1" "$2" 2>/dev/null && return 0
    sleep 0.2
  done
  return 1
}
# cache=loose lets the guest keep the read-only root's pages; the host's files do not
# change under a test run.
mount9p root /lower ro,cache=loose || fail "cannot mount the host's root over 9p"
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  fail "cannot mount the overlay root"

r=/newroot
mount -t proc proc $r/proc
mount -t sysfs sysfs $r/sys
mount -t devtmpfs devtmpfs $r/dev
mkdir -p $r/dev/pts $r/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $r/dev/pts
mount -t tmpfs tmpfs $r/dev/shm
# /tmp stays the overlay's (writes land in its tmpfs upper): a tmpfs mounted over it would
# hide a checkout or build tree under the host's /tmp, as CI's clone may be.
mount -t tmpfs -o mode=0755 tmpfs $r/run
mount -t tracefs tracefs $r/sys/kernel/tracing
mount -t debugfs debugfs $r/sys/kernel/debug
mount -t bpf bpf $r/sys/fs/bpf
mount -t securityfs securityfs $r/sys/kernel/security
mkdir -p "$r$cache_dir"
mount9p cache "$r$cache_dir" cache=mmap || fail "cannot mount the shared cache directory"
cp /command $r/tmp/.vmtest-command

echo "vmtest guest: $(uname -r) up after $(cut -d' ' -f1 /proc/uptime) s"
chroot $r /bin/bash /tmp/.vmtest-command </dev/null
status=$?
sync
# The status, and the guest's uptime for the host's timing line.
echo "${marker}${status} $(cut -d' ' -f1 /proc/uptime)"
poweroff -f
EOF
chmod 0755 "$work/root/init"
(cd "$work/root" && find . | cpio -o -H newc --quiet) | gzip -1 > "$work/initrd"

# --- the guest -----------------------------------------------------------------------------

started=$SECONDS
log "booting $kernel_pkg $version (TCG, $mem, timeout ${timeout_s}s)"
set +e
timeout -k 10 "$timeout_s" qemu-system-x86_64 \
  -accel tcg -cpu max -smp 2 -m "$mem" -bios qboot.rom \
  -nodefaults -no-reboot -display none -monitor none -serial stdio \
  -kernel "$kdir/vmlinuz" -initrd "$work/initrd" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off lsm=lockdown,capability,yama,bpf" \
  -virtfs local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap \
  -virtfs "local,path=$cache_dir,mount_tag=cache,security_model=none,multidevs=remap" \
  </dev/null 2>&1 |
  {
    # Everything before the marker is the command's output (the marker may follow output
    # that did not end its line); after it come only the kernel's power-off messages.
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%$'\r'}
      case "$line" in
        *"$marker"*)
          printf '%s' "${line%%"$marker"*}" | sed '$a\'
          echo "${line##*"$marker"}" > "$work/status"
          break ;;
      esac
      printf '%s\n' "$line"
    done
    cat > /dev/null # let QEMU finish writing
  }
qemu_status=${PIPESTATUS[0]}
set -e

if [ -s "$work/status" ]; then
  read -r status guest_uptime < "$work/status"
  log "exit status $status; the guest ran ${guest_uptime} s, vmtest.sh $((SECONDS - started)) s"
  exit "$status"
fi
if [ "$qemu_status" -eq 124 ] || [ "$qemu_status" -eq 137 ]; then
  log "the guest did not finish within ${timeout_s}s; stopped it"
  exit 124
fi
log "the guest stopped without reporting the command's status (QEMU exit status $qemu_status)"
exit 125
