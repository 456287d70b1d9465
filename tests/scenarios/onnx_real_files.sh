#!/bin/sh
# Real ONNX files (Silero VAD legacy, v5, v6, fetched once by scripts/fetch-onnx-models.sh) through
# probex-inspect: each opens as format "onnx" with the expected tensor counts, every readable tensor is
# dumped whole without error, and a few values are pinned. The pinned values were checked when written
# against the file bytes (each readable tensor's float32 values occur contiguously in its raw_data).
# Exit 77 (skipped) when the models cannot be fetched (no npm).
# Usage: onnx_real_files.sh PROBEX_INSPECT CACHE WORK
set -eu
inspect=$1
cache=$2
work=$3
here=$(dirname "$0")
set +e
folder=$(bash "$here/../../scripts/fetch-onnx-models.sh" "$cache")  # the path is its only stdout
status=$?
set -e
if [ "$status" = 77 ]; then
  echo "onnx_real_files: npm not found: skipped"
  exit 77
fi
[ "$status" = 0 ] || exit 1
rm -rf "$work"
mkdir -p "$work"
fail=0
# name  tensors  readable
for spec in "silero_vad_legacy 259 100" "silero_vad_v5 341 34" "silero_vad_v6 341 34"; do
  set -- $spec
  file="$folder/$1.onnx"
  "$inspect" "$file" --json > "$work/$1.json"
  grep -q '"format":"onnx"' "$work/$1.json" || { echo "$1: not read as onnx"; fail=1; }
  listed=$(grep -o '"name":' "$work/$1.json" | wc -l)
  [ "$listed" = "$2" ] || { echo "$1: $listed tensors listed, expected $2"; fail=1; }
  "$inspect" "$file" > "$work/$1.txt"
  awk '$1 ~ /^[0-9]+$/ && !/not readable/ {print $2}' "$work/$1.txt" > "$work/$1.readable"
  readable=$(wc -l < "$work/$1.readable")
  [ "$readable" = "$3" ] || { echo "$1: $readable readable tensors, expected $3"; fail=1; }
  while read -r name; do
    "$inspect" "$file" --dump "$name" --json > "$work/dump.json" || { echo "$1: cannot read '$name'"; fail=1; }
  done < "$work/$1.readable"
done
pin() {  # FILE TENSOR ROWS FIRST_VALUES
  "$inspect" "$folder/$1.onnx" --dump "$2" --rows "$3" --json > "$work/pin.json"
  grep -q "\"values\":\[$4" "$work/pin.json" || { echo "$1: '$2' does not start with $4:"; head -c 300 "$work/pin.json"; echo; fail=1; }
}
bias=If_0/else_branch/If_0_else_branch__Inline_0__encoder.0.reparam_conv.bias
pin silero_vad_v5 "$bias" 0:4 "0.178890824,0.200153589,0.245784461,-3.67484069"
pin silero_vad_v6 "$bias" 0:4 "0.204256609,0.208259746,0.094385922,0.503823698"
pin silero_vad_legacy If_25/else_branch/If_651/else_branch/1076 0:1 "0.0641654208,0.0586148202,0.174247861,-0.14912273"
grep -q 'If_0/else_branch/If_0_else_branch__Inline_0__decoder.rnn.weight_ih *\[512, 128\] *FLOAT' "$work/silero_vad_v5.txt" ||
  { echo "silero_vad_v5: decoder.rnn.weight_ih not [512, 128] FLOAT"; fail=1; }
[ "$fail" = 0 ] && echo "onnx_real_files: 3 files, every readable tensor read, pinned values match"
exit "$fail"
