#!/usr/bin/env bash
# Cross-builds the runtime, the CLIs and the example agent for aarch64 and armv7 hard-float, runs the
# runtime's tests under qemu-user, and checks end to end that the targets audit the host's small zoo
# with the host's bundles exactly as the host does (the e2e/ tests of tests/CMakeLists.txt). Then installs each cross build into a
# staging folder (DESTDIR) and builds the example agent against it as a board's developer would
# (find_package(probex), static, the same toolchain file): under qemu it must audit the host's small zoo
# as the host's probex-agent does. Run after the host's release tests (scripts/test.sh does), which make
# that zoo and those bundles in build/release.
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
cache() { sed -n "s/^$2:[A-Z]*=//p" "$1/CMakeCache.txt"; }  # BUILD VARIABLE: a cached value

for preset in "${presets[@]}"; do
  echo "=== $preset: build (cross)"
  cmake --preset "$preset" -DPROBEX_HOST_BUILD="$PWD/build/release" >/dev/null
  cmake --build --preset "$preset" -j "$(nproc)"
  echo "=== $preset: test (qemu)"
  ctest --preset "$preset" -j "$(nproc)"

  echo "=== $preset: the example agent built against the installed library (qemu)"
  work=$PWD/build/consumers/$preset
  rm -rf "$work"
  DESTDIR=$work/stage cmake --install "build/$preset" >/dev/null
  cmake -S runtime/examples -B "$work/agent" -G Ninja --toolchain "$(cache "build/$preset" CMAKE_TOOLCHAIN_FILE)" \
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/stage$(cache "build/$preset" CMAKE_INSTALL_PREFIX)" >/dev/null
  cmake --build "$work/agent" >/dev/null
  # The toolchain's CMAKE_CROSSCOMPILING_EMULATOR line (toolchains/linux-cross.cmake).
  case "$preset" in aarch64) triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;; armv7) triplet=arm-linux-gnueabihf qemu=qemu-arm ;; esac
  emulator=("$qemu" -L "/usr/$triplet" -E "LD_LIBRARY_PATH=$(cache "build/$preset" PROBEX_ARM_DEPS)/usr/lib/$triplet:/usr/$triplet/lib")
  models=build/release/zoo-small
  build/release/runtime/probex-agent build/release/small-zs.probex "$models" >"$work/host.jsonl"
  "${emulator[@]}" "$work/agent/probex-agent" build/release/small-zs.probex "$models" >"$work/target.jsonl"
  sh tests/scenarios/compare_reports.sh 1e-3 "$work/host.jsonl" "$work/target.jsonl"
done
