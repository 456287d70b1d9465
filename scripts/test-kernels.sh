#!/usr/bin/env bash
# Other CPUs' rounding on this one (scripts/test.sh --kernels [K,K... [SEED,SEED...]]). OpenBLAS runs any kernel the CPU
# can execute when OPENBLAS_CORETYPE names it, and each kernel rounds the zoo builder's and the trainers'
# GEMMs differently: what another CPU does to the test zoo. For each kernel: the small zoo is rebuilt and
# every test that scores real models (ctest -L slow: routing, label flips, exports, accuracy, zero-shot) is
# run under it; with SEEDS, for each zoo seed too (PROBEX_SMALL_ZOO_SEED). Prints per kernel the tests' verdict, the zoo's digest and the figures the tests print;
# the full logs are in build/kernels/<kernel>.log. Also checks, under the first kernel, that the zoo is
# byte-identical when built again, and when built with one worker and one BLAS thread (skipped with
# PROBEX_KERNELS_DETERMINISM=0, as CI does: scripts/test.sh --full).
#
# Expects the release build of scripts/test.sh (it builds it if needed). Leaves the last kernel's zoo,
# experts and bundles in build/release.
set -euo pipefail
cd "$(dirname "$0")/.."

requested=${1:-auto}
seeds=${2:-default}  # small-zoo seeds, comma-separated; "default" is the configuration's own
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() { for f in "$@"; do case "$flags" in *" $f "*) ;; *) return 1 ;; esac; done; }
# What each kernel executes (OpenBLAS 0.3.21's kernel/x86_64 sources): a kernel this CPU lacks would die on an
# illegal instruction, so only runnable ones are tried. Prescott (SSE3, ~6x slower GEMMs) is left out.
runnable=()
has avx && runnable+=(SandyBridge)
has avx2 fma && runnable+=(Haswell Zen)
has avx512f avx512bw avx512dq avx512vl avx512cd && runnable+=(SkylakeX)
has avx512f avx512bw avx512dq avx512vl avx512cd avx512_bf16 && runnable+=(Cooperlake)
# Zen runs Haswell's single-precision GEMM kernels: the same zoo bytes (measured: the same digest), so the
# automatic list leaves it out; name it to run it.
auto=()
for k in "${runnable[@]}"; do [ "$k" = Zen ] || auto+=("$k"); done
if [ "$requested" = auto ]; then
  kernels=("${auto[@]}")
else
  IFS=, read -r -a kernels <<<"$requested"
  for k in "${kernels[@]}"; do
    case " ${runnable[*]} " in *" $k "*) ;; *) echo "test-kernels: this CPU cannot run '$k' (it runs: ${runnable[*]})" >&2; exit 2 ;; esac
  done
fi
[ ${#kernels[@]} -gt 0 ] || { echo "test-kernels: no OpenBLAS kernel to try on this CPU" >&2; exit 2; }

jobs=$(nproc)
build=build/release
logs=build/kernels
mkdir -p "$logs"
echo "=== kernels: ${kernels[*]} ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
cmake --preset release >/dev/null
cmake --build --preset release -j "$jobs" >/dev/null

digest() { (cd "$1" && find . -type f -name 'model.safetensors' | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16); }
failed=()
first=1
IFS=, read -r -a seed_list <<<"$seeds"
for seed in "${seed_list[@]}"; do
[ "$seed" = default ] && seed_value= || seed_value=$seed
cmake --preset release -DPROBEX_SMALL_ZOO_SEED="$seed_value" >/dev/null
for k in "${kernels[@]}"; do
  run=$k${seed_value:+-seed$seed_value}
  log=$logs/$run.log
  start=$(date +%s)
  echo "=== kernel $k, zoo seed $seed ($(date +%T))"
  set +e
  OPENBLAS_CORETYPE=$k ctest --preset release -j "$jobs" -L slow -V >"$log" 2>&1
  code=$?
  set -e
  summary=$(grep -E '^[0-9]+% tests passed' "$log" || echo "no summary")
  echo "  $summary in $(( $(date +%s) - start )) s; zoo digest $(digest $build/zoo-small)"
  # The figures the real-model tests print (their lines start with the ctest number: "123: ...").
  # The figures the real-model tests print (their lines start with the ctest number: "123: ..."): the zoo's
  # roots and weakest children, routing, tree discovery, exports, device against trainer, budgets.
  grep -E '^[0-9]+: (mlp-[a-z] +0\.[0-9]+ +(subset|detector)|zoo_export_audit|.*routed to their tree|.*rejected as unknown tree|clusters found|heldout: 4 children|mlp-[a-z]: .* on the device|.*MESSAGE|tree mlp-[a-z] +zero-shot|route +distance)' "$log" |
    sed 's/^[0-9]*: /  /' | LC_ALL=C sort -u | head -60 || true
  if [ "$code" -ne 0 ]; then
    failed+=("$run")
    grep -E '^\s*[0-9]+ - .*\(Failed|Timeout\)' "$log" | sed 's/^/  failed: /' || true
  fi
  if [ "$first" -eq 1 ] && [ "${PROBEX_KERNELS_DETERMINISM:-1}" = 1 ]; then
    first=0
    # Is the builder deterministic for one kernel, whatever its parallelism?
    OPENBLAS_CORETYPE=$k $build/converter/probex-zoo --config small --out "$logs/zoo-$k-again" --force --quiet
    OPENBLAS_CORETYPE=$k OPENBLAS_NUM_THREADS=1 $build/converter/probex-zoo --config small --threads 1 \
      --out "$logs/zoo-$k-one-thread" --force --quiet
    echo "  built again: $(digest "$logs/zoo-$k-again"); one worker, one BLAS thread: $(digest "$logs/zoo-$k-one-thread")"
    rm -rf "$logs/zoo-$k-again" "$logs/zoo-$k-one-thread"
  fi
done
done
cmake --preset release -DPROBEX_SMALL_ZOO_SEED= >/dev/null  # back to the configuration's seed
if [ ${#failed[@]} -gt 0 ]; then
  echo "=== kernels failed: ${failed[*]} (logs in $logs/)"
  exit 1
fi
echo "=== every kernel passed: ${kernels[*]}; zoo seeds: $seeds"
