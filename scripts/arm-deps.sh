#!/usr/bin/env bash
# Everything an ARM cross-build of the runtime needs, idempotently:
#   - the cross compilers and qemu-user from Debian (installed system-wide, needs root or sudo);
#   - a project-local dependency root per architecture, build/arm-deps/<arch>/, with the ARM builds of
#     XNNPACK, pthreadpool, cpuinfo, FlatBuffers and libsodium unpacked from Debian's packages. They cannot be
#     installed beside the host's (libxnnpack-dev is Multi-Arch: no; apt would remove the amd64 one), so
#     they are downloaded with `apt-get download` and unpacked with `dpkg-deb -x`.
#
#   scripts/arm-deps.sh [arm64|armhf ...]      # default: both
#
# The toolchain files (toolchains/*.cmake) find the dependency root at build/arm-deps/<arch>/root.
set -euo pipefail
cd "$(dirname "$0")/.."

arches=("$@")
[ ${#arches[@]} -eq 0 ] && arches=(arm64 armhf)

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "arm-deps: need root (or sudo) for apt-get" >&2; exit 1; }
  as_root=(sudo)
fi

# Debian package names per architecture.
compiler_of() { case "$1" in arm64) echo g++-aarch64-linux-gnu ;; armhf) echo g++-arm-linux-gnueabihf ;; esac; }
libs=(libxnnpack-dev libxnnpack0 libpthreadpool-dev libpthreadpool0 libcpuinfo0 libflatbuffers-dev libflatbuffers2
      libsodium-dev libsodium23)

need_update=0
for arch in "${arches[@]}"; do
  case "$arch" in arm64|armhf) ;; *) echo "arm-deps: unknown architecture '$arch' (arm64 or armhf)" >&2; exit 2 ;; esac
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    "${as_root[@]}" dpkg --add-architecture "$arch"
    need_update=1
  fi
done
missing=()
for p in qemu-user $(for a in "${arches[@]}"; do compiler_of "$a"; done); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A mirror in mid-sync can fail one index (seen here for bookworm-security armhf); retry, then go on
# with what apt has: a package that is really missing fails below with apt's own message.
apt_update() {
  for attempt in 1 2 3; do
    "${as_root[@]}" apt-get update -qq && return 0
    echo "arm-deps: apt-get update failed (attempt $attempt)" >&2
    sleep 5
  done
  echo "arm-deps: continuing with the package lists apt has" >&2
}
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ] || [ $need_update -eq 1 ]; then apt_update; fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "arm-deps: installing ${missing[*]}"
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

for arch in "${arches[@]}"; do
  dir=build/arm-deps/$arch
  stamp=$dir/root/.complete  # holds the package list: a changed list unpacks anew
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${libs[*]}" ]; then
    echo "arm-deps: have $dir/root"
    continue
  fi
  rm -rf "$dir"
  mkdir -p "$dir/debs" "$dir/root"
  sandbox=()  # as root, apt's download user cannot write into a project folder: stay root
  [ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
  (cd "$dir/debs" && apt-get download -qq "${sandbox[@]}" $(for l in "${libs[@]}"; do echo "$l:$arch"; done))
  for deb in "$dir"/debs/*.deb; do dpkg-deb -x "$deb" "$dir/root"; done
  echo "${libs[*]}" >"$stamp"
  echo "arm-deps: unpacked $(ls "$dir"/debs | wc -l) packages into $dir/root"
done
