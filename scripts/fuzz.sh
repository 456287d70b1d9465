#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz: clang-14, ASan + UBSan) and runs each for SECONDS, two at a
# time, on a corpus that grows across runs (build/fuzz/corpus/<target>) seeded with small real files, the
# safetensors, GGUF, TFLite and ONNX tests' malformed-file corpora (plus valid GGUF, TFLite and ONNX files),
# real TFLite and ONNX files when fetched, the folder formats' index and
# config JSON, and the committed regression inputs
# (tests/fuzz/regressions/<target>/: every crash found becomes one).
#
#   scripts/fuzz.sh [SECONDS]      # default 60: the smoke that scripts/test.sh runs; 3600+ for a campaign
#
# Prints, per target, the executions, the coverage reached (libFuzzer's cov/ft counters) and whether it
# crashed; a crash input is kept as build/fuzz/crash-<target>-* and the script exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
targets=(safetensors gguf tflite onnx shard_index adapter_config bundle python_literal idx text_table)
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"

corpus=build/fuzz/corpus
mkdir -p "$corpus"
for t in "${targets[@]}"; do mkdir -p "$corpus/$t"; done

# Seeds: tiny real files made by the project's own tools (when the release build has them), and a few
# hand-written ones. Made once; the corpus keeps what the fuzzer finds.
if [ ! -f "$corpus/.seeded-3" ]; then  # -3: seeds added since (signed, MVProbe bundles); re-seeds older corpora
  host=build/release
  if [ -x "$host/converter/probex-synth" ] && [ -x "$host/converter/probex-convert" ]; then
    seeds=$(mktemp -d)
    "$host/converter/probex-synth" model "$corpus/safetensors/f32.safetensors" --rows 4 --cols 3 --layer block.weight
    "$host/converter/probex-synth" model "$corpus/safetensors/bf16.safetensors" --rows 2 --cols 5 --dtype bf16
    "$host/converter/probex-synth" expert "$seeds/e.safetensors" --rows 6 --cols 5 --r 4 --labels 3
    for q in f32 f16 int8 int8-b4; do
      "$host/converter/probex-convert" --out "$corpus/bundle/$q.probex" --quant "$q" --self-tests 1 --quiet --force \
        "$seeds/e.safetensors"
    done
    "$host/converter/probex-keygen" "$seeds/key" >/dev/null
    "$host/converter/probex-convert" --out "$corpus/bundle/signed.probex" --quant int8 --self-tests 1 --quiet --force \
      --sign "$seeds/key.secret" "$seeds/e.safetensors"
    "$host/converter/probex-synth" expert "$seeds/mv.safetensors" --rows 6 --cols 5 --r 3 --labels 3 --expert mvprobe
    "$host/converter/probex-synth" expert "$seeds/mv2.safetensors" --rows 5 --cols 4 --r 2 --labels 2 --expert mvprobe \
      --views xxtu,xtxu
    for m in mv mv2; do
      "$host/converter/probex-convert" --out "$corpus/bundle/$m.probex" --quant int8 --self-tests 1 --quiet --force \
        "$seeds/$m.safetensors"
    done
    cp "$seeds/e.safetensors" "$corpus/safetensors/expert.safetensors"
    rm -rf "$seeds"
  fi
  printf "['T-shirt/top', 'Bag', \"it's\"]" >"$corpus/python_literal/labels"
  printf "[]" >"$corpus/python_literal/empty"
  # IDX: magic 0 0 type 0x08 (u8), rank; sizes big-endian; data.
  printf '\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03' >"$corpus/idx/labels.idx"
  printf '\x00\x00\x08\x03\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04' >"$corpus/idx/images.idx"
  printf '{"precision":8,"l2NormIndex":2,"wordIndex":3,"size":2,"dimensions":2,"words":["bag","top"],"vectors":{"bag":[1,0,1,0],"top":[0.5,-2.5e-1,0.559,1]},"unkVector":[0,0,0,-1]}' \
    >"$corpus/text_table/wink.json"
  touch "$corpus/.seeded-3"
fi

# The malformed-file corpora of the safetensors, GGUF, TFLite and ONNX tests (and valid GGUF, TFLite and ONNX
# files), and the index and config JSON of the folder formats' malformed corpora, refreshed every run (they grow
# with the tests).
build/fuzz/tests/fuzz/write_malformed_corpus "$corpus/safetensors" "$corpus/gguf" "$corpus/shard_index" \
  "$corpus/adapter_config" "$corpus/tflite" "$corpus/onnx" >/dev/null
# A real TFLite file (MediaPipe's hand landmarks, 2 MB) when scripts/fetch-tflite-models.sh has fetched it.
# -max_len cuts it to its first 64 KB: mutations of a real header, operator codes and tensor tables.
real_tflite=${PROBEX_CACHE:-$HOME/.cache/probex}/tflite-mediapipe/hand_landmark_lite.tflite
[ -f "$real_tflite" ] && cp "$real_tflite" "$corpus/tflite/real-hand_landmark_lite.tflite"
# Real ONNX files when scripts/fetch-onnx-models.sh has fetched them (2 MB each: the fuzzer reads their
# first max_len bytes; the hand-made seeds cover the rest).
for f in "${PROBEX_CACHE:-$HOME/.cache/probex}"/onnx-silero-vad-*/*.onnx; do
  [ -f "$f" ] && cp "$f" "$corpus/onnx/real-$(basename "$f")"
done

run() {
  local t=$1 log=build/fuzz/$1.log
  local regressions=tests/fuzz/regressions/$t
  mkdir -p "$regressions"
  local status=ok
  build/fuzz/tests/fuzz/fuzz_"$t" "$corpus/$t" "$regressions" -max_total_time="$seconds" -rss_limit_mb=2048 \
    -max_len=65536 -timeout=20 -print_final_stats=1 -artifact_prefix="build/fuzz/crash-$t-" >"$log" 2>&1 || status=CRASHED
  local runs cov
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$log" | tail -1 || true)
  printf "fuzz %-15s %10s executions in %ss, %s, %s\n" "$t" "$runs" "$seconds" "${cov:-cov: ?}" "$status"
  [ "$status" = ok ]
}
export -f run
export corpus seconds
printf "%s\n" "${targets[@]}" | xargs -P 2 -I{} bash -c 'run {}'
