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

# ONNX Runtime runs the expert's graph on the layer already in memory (a Float32Array read once); probex's
# audit total also reads the layer from the file (page cache), so both its compute (probe + rest) and its
# total are shown. Rounds alternate probex and ONNX Runtime so that a noisy neighbour hits both.
echo
echo "== ONNX Runtime (the peer) vs probex, 768x768 f32 expert, 200 runs after 20 warm-up, p50 in ms"
set +e
ort=$(bash scripts/fetch-onnxruntime.sh)
status=$?
set -e
if [ "$status" != 0 ]; then
  echo "ONNX Runtime: skipped (scripts/fetch-onnxruntime.sh exit $status: needs node, npm and the npm registry)"
  exit 0
fi
$bin/converter/probex-convert --quiet --onnx-expert --out "$work/e768.onnx" "$work/e768.safetensors"
p50() { awk -v stage="$2" 'index($0, stage) == 1 { print $(NF - 1) }' "$1"; }
printf '%-6s %-8s %10s %10s %10s %12s %14s %10s %10s\n' round threads "probe" "rest" "compute" "audit total" "bare X*U GEMM" "ORT p50" "ORT p90"
for round in 1 2 3; do
  for threads in 1 2; do
    $bin/runtime/probex-bench "$work/b768-f32.probex" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/probex.txt"
    node scripts/ort_bench.js "$ort" "$work/e768.onnx" "$work/m768.safetensors" --runs 200 --warmup 20 \
      --threads "$threads" >"$work/ort.txt"
    probe=$(p50 "$work/probex.txt" "probe (steps 1-2)")
    rest=$(p50 "$work/probex.txt" "rest (steps 3-4)")
    printf '%-6s %-8s %10s %10s %10s %12s %14s %10s %10s\n' "$round" "$threads" "$probe" "$rest" \
      "$(awk -v a="$probe" -v b="$rest" 'BEGIN { printf "%.3f", a + b }')" "$(p50 "$work/probex.txt" "audit total")" \
      "$(p50 "$work/probex.txt" "bare XNNPACK X*U GEMM")" \
      "$(awk '/^session.run/ { print $6 }' "$work/ort.txt")" "$(awk '/^session.run/ { print $8 }' "$work/ort.txt")"
  done
done
head -1 "$work/ort.txt"
