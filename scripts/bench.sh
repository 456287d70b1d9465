#!/usr/bin/env bash
# Runtime benchmarks (not tests: they print figures, they never fail on timing). Builds synthetic
# inputs with probex-synth, converts them, and runs probex-bench:
#   - a 768x768 layer with r = 128 (the shape of Model-J's ViT layers), f32 and int8 bundles, 1 thread;
#   - a 4096x4096 layer as safetensors BF16 and as GGUF F16, Q8_0 and Q4_K: read-stage time (dequantization)
#     and peak memory while streaming, per format and type.
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
