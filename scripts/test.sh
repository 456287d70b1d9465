#!/usr/bin/env bash
# Command (2) of the README: the release build and every test but the long ones (a few minutes on
# 2 cores: the small zoo is built once, ~1.5 min, and real experts are trained on it).
#
#   scripts/test.sh          release build; ctest -LE long; the installed library, static and shared, built
#                            against as users do (tests/install/consumers.sh); the Python module and the
#                            Dask scan over the shared library (pytest python/tests, Debian's python3)
#   scripts/test.sh --kernels [K,K... [S,S...]]  other CPUs' rounding on this one: the release build, then
#                            for each OpenBLAS kernel this CPU can run (SandyBridge, Haswell, Zen, SkylakeX,
#                            Cooperlake, from /proc/cpuinfo; "auto", or the list given) and each small-zoo seed
#                            (default: the configuration's) the zoo rebuilt and every test that scores real
#                            models (ctest -L slow) run under OPENBLAS_CORETYPE=K; prints the figures and zoo
#                            digest of each (logs in build/kernels/). Run it before changing a threshold of
#                            such a test. It leaves the last run's zoo in build/release.
#   scripts/test.sh --full   what CI runs (.ci/run): the above (without --kernels), then
#     long     the release build's long tests (the standard zoo's zero-shot tree, a reduced sanity zoo)
#     asan     Debug (-O1) + AddressSanitizer + UndefinedBehaviorSanitizer, every test, the long ones too;
#              it reads the release build's zoos instead of building them again (PROBEX_REUSE_ZOOS)
#     valgrind the runtime and bundle test suites and one routed, zero-shot audit, on the release build
#     aarch64, armv7  the runtime cross-built, its tests and an end-to-end audit under qemu
#              (scripts/test-arm.sh; installs the cross compilers and qemu-user)
#     fuzz     every libFuzzer target for 60 s (scripts/fuzz.sh; longer campaigns: scripts/fuzz.sh 3600)
#     kernels  --kernels, without its determinism check (2-4 min per kernel)
# Needs the packages of scripts/install-deps.sh (run it first, or run scripts/demo.sh once).
set -euo pipefail
cd "$(dirname "$0")/.."

full=0
kernels=
case "${1:-}" in
  "") ;;
  --full) full=1 ;;
  --kernels) kernels=${2:-auto}; seeds=${3:-default} ;;
  -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "test.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

jobs=$(nproc)
stage() { echo "=== $1 ($(date +%T))"; }

stage "release: build"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs"
if [ -n "$kernels" ]; then
  exec bash scripts/test-kernels.sh "$kernels" "$seeds"
fi
stage "release: test (all but the long tests)"
ctest --preset release -j "$jobs" -LE long
stage "installed library: static and shared, find_package and pkg-config"
bash tests/install/consumers.sh
# Debian's interpreter, which sees Debian's numpy, pytest and Dask (a python3 earlier on PATH may not).
stage "python: the probex module (over build/shared's libprobex.so.1) and the Dask scan"
PYTHONPATH=$PWD/python PYTHONDONTWRITEBYTECODE=1 "${PROBEX_PYTHON:-/usr/bin/python3}" -m pytest -q -p no:cacheprovider python/tests
[ "$full" -eq 1 ] || { echo "=== passed; scripts/test.sh --full adds the long tests, sanitizers, valgrind, ARM and fuzzing"; exit 0; }

stage "release: long tests"
ctest --preset release -j "$jobs" -L long

stage "asan: build"
cmake --preset asan -DPROBEX_REUSE_ZOOS="$PWD/build/release" >/dev/null
cmake --build --preset asan -j "$jobs"
stage "asan: test"
ctest --preset asan -j "$jobs"

stage "valgrind"
vg=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q)
"${vg[@]}" build/release/tests/probex_runtime_tests
"${vg[@]}" build/release/tests/probex_bundle_tests -tce="bit flips*"   # the sweep: ASan covers it
"${vg[@]}" build/release/runtime/probex-audit build/release/small-zs.probex \
  build/release/zoo-small/mlp-a/test/subset-0000/model.safetensors --truth dataset_chosen_targets --quiet

stage "ARM under qemu"
bash scripts/test-arm.sh
stage "fuzz"
bash scripts/fuzz.sh 60
# Last: it rebuilds the release build's zoo under each kernel, which the stages above read.
stage "kernels: the real-model tests under each OpenBLAS kernel this CPU runs"
PROBEX_KERNELS_DETERMINISM=0 bash scripts/test-kernels.sh auto
stage "all passed"
