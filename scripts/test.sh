#!/usr/bin/env bash
# Command (2) of the README: builds and runs every test suite:
#   release  all tests, including the ones that train real models on Fashion-MNIST (label "slow")
#   asan     Debug (-O1) + AddressSanitizer + UndefinedBehaviorSanitizer, all tests, the slow ones too
#            (the parsers and their malformed-file corpora, and the real-data training; ~14 min)
#   aarch64, armv7  the runtime cross-built, its tests and an end-to-end audit under qemu
#            (scripts/test-arm.sh; installs the cross compilers and qemu-user)
#   valgrind the runtime and bundle test suites and one routed, zero-shot audit, on the release build
#   fuzz     every libFuzzer target for 60 s (scripts/fuzz.sh; longer campaigns: scripts/fuzz.sh 3600)
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
echo "=== valgrind"
vg=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q)
"${vg[@]}" build/release/tests/probex_runtime_tests
"${vg[@]}" build/release/tests/probex_bundle_tests -tce="bit flips*"   # the sweep: ASan covers it
"${vg[@]}" build/release/runtime/probex-audit build/release/small-zs.probex \
  build/release/zoo-small/mlp-a/test/subset-0000/model.safetensors --truth dataset_chosen_targets --quiet
bash scripts/test-arm.sh
bash scripts/fuzz.sh 60
