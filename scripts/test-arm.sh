#!/usr/bin/env bash
# Cross-builds the runtime, the CLIs and the example agent for aarch64 and armv7 hard-float, runs the
# runtime's tests under qemu-user, and checks end to end that the targets audit the host's small zoo
# with the host's bundles exactly as the host does (tests/e2e/). Run after the host's release tests
# (scripts/test.sh does), which make that zoo and those bundles in build/release.
#
#   scripts/test-arm.sh [aarch64|armv7 ...]     # default: both
#
# Installs the cross compilers and qemu-user, and unpacks the ARM dependencies (scripts/arm-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

presets=("$@")
[ ${#presets[@]} -eq 0 ] && presets=(aarch64 armv7)
arches=()
for p in "${presets[@]}"; do
  case "$p" in aarch64) arches+=(arm64) ;; armv7) arches+=(armhf) ;; *) echo "test-arm: unknown target '$p'" >&2; exit 2 ;; esac
done
bash scripts/arm-deps.sh "${arches[@]}"

for preset in "${presets[@]}"; do
  echo "=== $preset: build (cross)"
  cmake --preset "$preset" -DPROBEX_HOST_BUILD="$PWD/build/release" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
  echo "=== $preset: test (qemu)"
  ctest --preset "$preset" -j "$(nproc)"
done
