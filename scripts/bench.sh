#!/usr/bin/env bash
# Runtime benchmarks (not tests: they print figures, they never fail on timing). Builds synthetic
# inputs with probex-synth, converts them, and runs probex-bench:
#   - a 768x768 layer with r = 128 (the shape of Model-J's ViT layers), f32 and int8 bundles, 1 thread;
#   - a 4096x4096 layer as safetensors BF16 and as GGUF F16, Q8_0 and Q4_K: read-stage time (dequantization)
#     and peak memory while streaming, per format and type; the BF16 one also with 2 threads;
#   - the peer: the same 768x768 f32 expert exported to ONNX (probex-convert --onnx-expert) in ONNX Runtime
#     (onnxruntime-node, scripts/fetch-onnxruntime.sh; skipped without node/npm), beside probex at 1 and 2
#     threads, in 3 interleaved rounds (the machine is shared and noisy).
# Usage: scripts/bench.sh [BUILD_DIR]   (default build/release; build it first)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The figures mean little without the machine, and less on a busy one: both are printed. busy: the share
# of CPU time the other processes took over one second while this script slept (the load average would
# count this script too, and lags by a minute).
busy() {
  local a b
  read -ra a < /proc/stat
  sleep 1
  read -ra b < /proc/stat
  awk -v a="${a[*]}" -v b="${b[*]}" 'BEGIN {
    n = split(a, x, " "); split(b, y, " ")
    for (i = 2; i <= n; i++) { total += y[i] - x[i]; if (i == 5 || i == 6) idle += y[i] - x[i] }
    printf "other processes busy %.0f%% of the CPU", total ? 100 * (total - idle) / total : 0
  }'
}
echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) processors, $(busy)"

$bin/converter/probex-synth expert "$work/e768.safetensors" --rows 768 --cols 768 --r 128 --labels 50 >/dev/null
$bin/converter/probex-synth model "$work/m768.safetensors" --rows 768 --cols 768 --dtype f32 >/dev/null
$bin/converter/probex-synth expert "$work/e4096.safetensors" --rows 4096 --cols 4096 --r 128 --labels 50 >/dev/null
$bin/converter/probex-synth model "$work/m4096.safetensors" --rows 4096 --cols 4096 --dtype bf16 >/dev/null
for t in f16 q8_0 q4_k; do
  $bin/converter/probex-synth model "$work/m4096-$t.gguf" --format gguf --rows 4096 --cols 4096 --dtype $t >/dev/null
done
for q in f32 int8; do
  $bin/converter/probex-convert --quiet --out "$work/b768-$q.probex" --quant "$q" "$work/e768.safetensors"
done
$bin/converter/probex-convert --quiet --out "$work/b4096-int8.probex" --quant int8 "$work/e4096.safetensors"
ls -l "$work"/*.probex | awk '{print $5, $9}' | sed "s|$work/||"

for q in f32 int8; do
  echo
  echo "== 768x768, $q bundle, xnnpack, 1 thread"
  $bin/runtime/probex-bench "$work/b768-$q.probex" "$work/m768.safetensors" --runs 200 --warmup 20
done
echo
echo "== 768x768, int8 bundle, xnnpack, 1 thread, float arithmetic (--float-only)"
$bin/runtime/probex-bench "$work/b768-int8.probex" "$work/m768.safetensors" --runs 200 --warmup 20 --float-only
echo
echo "== 768x768, f32 bundle, reference backend, 1 thread"
$bin/runtime/probex-bench "$work/b768-f32.probex" "$work/m768.safetensors" --runs 20 --backend reference
# The read stage beside the copy rate of the same file out of the page cache (dd, 1 MB blocks, after one
# warm-up read): the read stage copies too, and widens BF16 to float32 on the way.
cat "$work/m4096.safetensors" >/dev/null
echo
echo "== page cache copy of the 4096x4096 BF16 file ($(du -h "$work/m4096.safetensors" | cut -f1)), dd: $(dd if="$work/m4096.safetensors" of=/dev/null bs=1M 2>&1 | tail -1)"
echo
echo "== 4096x4096 BF16 layer, int8 bundle ($(du -h "$work/b4096-int8.probex" | cut -f1)), xnnpack, 1 thread"
$bin/runtime/probex-bench "$work/b4096-int8.probex" "$work/m4096.safetensors" --runs 5 --warmup 1
for t in f16 q8_0 q4_k; do
  echo
  echo "== 4096x4096 GGUF $t layer ($(du -h "$work/m4096-$t.gguf" | cut -f1)), int8 bundle, xnnpack, 1 thread"
  $bin/runtime/probex-bench "$work/b4096-int8.probex" "$work/m4096-$t.gguf" --runs 5 --warmup 1
done
echo
echo "== 4096x4096 BF16 layer, int8 bundle, xnnpack, 2 threads"
$bin/runtime/probex-bench "$work/b4096-int8.probex" "$work/m4096.safetensors" --runs 5 --warmup 1 --threads 2

# ONNX Runtime runs the expert's float32 graph, and its int8 graph (probex-convert --onnx-expert --quant
# int8: ONNX Runtime's dynamic quantization of the int8 bundle's weights), on the layer already in memory
# (a Float32Array read once);
# probex's audit total also reads the layer from the file (page cache, the read stage), so its compute
# (probe + encode) is the figure to set beside ONNX Runtime's. The int8 bundle's total (the same expert
# quantized by probex-convert, step 1 in int8 where the CPU has an integer dot product) is the last probex
# column. Rounds alternate probex and ONNX Runtime so that a noisy neighbour hits all; the medians of the
# rounds close the table, then ONNX Runtime's own per-node profile (one more session each, profiler on) to
# set beside probex's stages.
echo
echo "== ONNX Runtime (the peer) vs probex, 768x768 f32 expert, xnnpack, 200 runs after 20 warm-up, ms ($(busy))"
set +e
ort=$(bash scripts/fetch-onnxruntime.sh)
status=$?
set -e
if [ "$status" != 0 ]; then
  echo "ONNX Runtime: skipped (scripts/fetch-onnxruntime.sh exit $status: needs node, npm and the npm registry)"
  exit 0
fi
$bin/converter/probex-convert --quiet --onnx-expert --out "$work/e768.onnx" "$work/e768.safetensors"
$bin/converter/probex-convert --quiet --onnx-expert --quant int8 --out "$work/e768-int8.onnx" "$work/e768.safetensors"
p50() { awk -v stage="$2" 'index($0, stage) == 1 { print $(NF - 1) }' "$1"; }
columns='%-6s %-7s | %7s %7s %7s %8s %7s | %7s | %9s | %7s %7s %7s | %7s\n'
printf "$columns" "" "" "probex" "f32" "" "" "" "int8" "" "ORT" "f32" "" "int8"
printf "$columns" round threads read probe encode compute total total "X*U GEMM" p10 p50 p90 p50
for round in 1 2 3; do
  for threads in 1 2; do
    $bin/runtime/probex-bench "$work/b768-f32.probex" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/probex.txt"
    $bin/runtime/probex-bench "$work/b768-int8.probex" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/probex-int8.txt"
    node scripts/ort_bench.js "$ort" "$work/e768.onnx" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/ort.txt"
    node scripts/ort_bench.js "$ort" "$work/e768-int8.onnx" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/ort-int8.txt"
    probe=$(p50 "$work/probex.txt" "probe (steps 1-2)")
    rest=$(p50 "$work/probex.txt" "encode (steps 3-4)")
    # shellcheck disable=SC2046  # the three ORT percentiles are meant to split
    printf "$columns" "$round" "$threads" "$(p50 "$work/probex.txt" read)" "$probe" "$rest" \
      "$(awk -v a="$probe" -v b="$rest" 'BEGIN { printf "%.3f", a + b }')" "$(p50 "$work/probex.txt" "audit total")" \
      "$(p50 "$work/probex-int8.txt" "audit total")" "$(p50 "$work/probex.txt" "bare XNNPACK X*U GEMM")" \
      $(awk '/^session.run/ { print $4, $6, $8 }' "$work/ort.txt") \
      "$(awk '/^session.run/ { print $6 }' "$work/ort-int8.txt")" | tee -a "$work/rows.txt"
  done
done
# Medians of the rounds per thread count. Fields of a row: round, threads, |, read, probe, encode, compute,
# total, |, int8 total, |, X*U GEMM, |, p10, p50, p90, |, ORT int8 p50.
median() {  # THREADS FIELD
  awk -v t="$1" -v f="$2" '$2 == t { print $f }' "$work/rows.txt" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
for threads in 1 2; do
  # shellcheck disable=SC2046
  printf "$columns" median "$threads" $(for f in 4 5 6 7 8 10 12 14 15 16 18; do median "$threads" "$f"; done)
done
head -1 "$work/ort.txt" | sed 's/, 2 intra-op thread.*//'
echo "after the rounds: $(busy)"
for threads in 1 2; do
  for graph in e768 e768-int8; do
    echo
    echo "ONNX Runtime, $graph.onnx, $threads thread(s): its own profile, 200 runs after 20 warm-up"
    node scripts/ort_bench.js "$ort" "$work/$graph.onnx" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" --profile | tail -n +4
  done
done
