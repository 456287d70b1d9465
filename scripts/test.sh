#!/usr/bin/env bash
# Command (2) of the README: builds and runs every test suite:
#   release  all tests, including the ones that train real models on Fashion-MNIST (label "slow")
#   asan     Debug + AddressSanitizer + UndefinedBehaviorSanitizer, all but the "slow" tests
#            (the parsers and their malformed-file corpora run here too)
#   aarch64, armv7  the runtime cross-built, its tests and an end-to-end audit under qemu
#            (scripts/test-arm.sh; installs the cross compilers and qemu-user)
# Needs the packages of scripts/install-deps.sh (run it first, or run scripts/demo.sh once).
set -euo pipefail
cd "$(dirname "$0")/.."

jobs=$(nproc)
for preset in release asan; do
  echo "=== $preset: build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "=== $preset: test"
  ctest --preset "$preset" -j "$jobs"
done
bash scripts/test-arm.sh
