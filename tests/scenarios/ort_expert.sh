#!/bin/sh
# The ONNX export of an expert (probex-convert --onnx-expert) run by ONNX Runtime (onnxruntime-node,
# fetched once by scripts/fetch-onnxruntime.sh) computes what probex computes: for synthetic experts and
# layers of two shapes (one with every dimension different, so that no transposition or flattening order
# can hide; one of the benchmark's shape), the probabilities and embedding of probex-audit --json with an
# f32 bundle of the same checkpoint, xnnpack and reference backends, agree with ONNX Runtime's within 1e-4.
# The int8 export (--quant int8: ONNX Runtime's dynamic quantization of the int8 bundle's weights) agrees
# with probex's int8 bundle within 1e-3: both quantize the layer at run time, each its own way (per tensor
# with a zero point there, per row here); measured largest differences 2e-4 (bench shape).
# Exit 77 (skipped) without node or npm, or when the packages cannot be fetched.
# Usage: ort_expert.sh PROBEX_SYNTH PROBEX_CONVERT PROBEX_AUDIT CACHE WORK
set -eu
synth=$1
convert=$2
audit=$3
cache=$4
work=$5
here=$(dirname "$0")
set +e
ort=$(bash "$here/../../scripts/fetch-onnxruntime.sh" "$cache")  # the path is its only stdout
status=$?
set -e
if [ "$status" = 77 ]; then
  echo "ort_expert: ONNX Runtime not available: skipped"
  exit 77
fi
[ "$status" = 0 ] || exit 1
rm -rf "$work"
mkdir -p "$work"
# name  rows cols  r_U r_V r_T labels
for spec in "odd 96 80 24 20 12 7" "bench 768 768 128 128 128 50"; do
  set -- $spec
  "$synth" expert "$work/$1.safetensors" --rows "$2" --cols "$3" --r-u "$4" --r-v "$5" --r-t "$6" --labels "$7" --seed 3 >/dev/null
  "$synth" model "$work/$1-model.safetensors" --rows "$2" --cols "$3" --dtype f32 --seed 4 >/dev/null
  "$convert" --quiet --out "$work/$1.probex" --quant f32 "$work/$1.safetensors"
  "$convert" --onnx-expert --out "$work/$1.onnx" "$work/$1.safetensors"
  for backend in xnnpack reference; do
    printf '%s, probex %s backend: ' "$1" "$backend"
    "$audit" "$work/$1.probex" "$work/$1-model.safetensors" --backend "$backend" --json >"$work/$1-$backend.json"
    node "$here/../helpers/ort_expert_check.js" "$ort" "$work/$1.onnx" "$work/$1-model.safetensors" layer.weight \
      "$work/$1-$backend.json" 1e-4
  done
  "$convert" --quiet --out "$work/$1-int8.probex" --quant int8 "$work/$1.safetensors"
  "$convert" --onnx-expert --quant int8 --out "$work/$1-int8.onnx" "$work/$1.safetensors"
  printf '%s, int8, probex xnnpack backend: ' "$1"
  "$audit" "$work/$1-int8.probex" "$work/$1-model.safetensors" --json >"$work/$1-int8.json"
  node "$here/../helpers/ort_expert_check.js" "$ort" "$work/$1-int8.onnx" "$work/$1-model.safetensors" layer.weight \
    "$work/$1-int8.json" 1e-3
done
