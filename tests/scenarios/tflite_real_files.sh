#!/bin/sh
# The TFLite reader on real files: MediaPipe's hand and pose landmark and face detection models (npm, pinned,
# fetched once by scripts/fetch-tflite-models.sh into CACHE). For each file, `probex-inspect FILE --json` must
# give format "tflite" and list every tensor (the counts below were decoded independently with flatc --json
# and the schema subset), and tflite_read_all must read every readable (FLOAT16, sparse ones too) tensor
# whole and by rows, finite and in agreement. A few values are pinned: they were printed once by this reader
# and cross-checked by
# hand from the raw bytes: conv2d/Conv2D is stored [O, H, W, I] = [24, 3, 3, 3], shown [O, I, H, W], so
# its element 1 (o 0, i 0, h 0, w 1) is stored element 3, bytes 79 45 = FLOAT16 0x4579 = 2^2 x (1 + 377/1024)
# = 5.47265625; the depthwise kernel is stored [1, 3, 3, 24], shown [24, 1, 3, 3], so its element 1 is
# stored element 24, bytes e4 2d = 0x2de4 = 2^-4 x (1 + 484/1024) = 0.0920410156.
# Exit 77 (skipped) without npm or when the fetch fails (no network).
# Usage: tflite_real_files.sh FETCH_SCRIPT CACHE PROBEX_INSPECT TFLITE_READ_ALL
set -eu
fetch=$1
cache=$2
inspect=$3
read_all=$4
command -v npm >/dev/null 2>&1 || { echo "tflite_real_files: npm not found: skipped"; exit 77; }
dir=$(bash "$fetch" "$cache" | tail -n 1) || { echo "tflite_real_files: fetch failed: skipped"; exit 77; }

fail=0
# file, tensors, readable
for entry in "hand_landmark_lite 271 102" "hand_landmark_full 269 102" "pose_landmark_lite 492 176" \
             "pose_landmark_full 535 192" "pose_landmark_heavy 1098 396" "face_detection_short_range 250 74" \
             "face_detection_full_range 544 178" "face_detection_full_range_sparse 577 182"; do
  set -- $entry
  f="$dir/$1.tflite"
  json=$("$inspect" "$f" --json)
  listed=$(printf '%s' "$json" | grep -o '{"name":' | wc -l)
  case "$json" in *'"format":"tflite"'*) ;; *) echo "$1: format is not tflite"; fail=1 ;; esac
  if [ "$listed" -ne "$2" ]; then echo "$1: probex-inspect lists $listed tensors, expected $2"; fail=1; fi
  got=$("$read_all" "$f" | head -n 1)
  if [ "$got" != "tensors $2 readable $3" ]; then echo "$1: '$got', expected 'tensors $2 readable $3'"; fail=1; fi
done

expect() {
  if [ "$1" != "$2" ]; then printf 'got      %s\nexpected %s\n' "$1" "$2"; fail=1; fi
}
dw='model_1/model/batch_normalization_1/FusedBatchNormV3;model_1/model/depthwise_conv2d/depthwise;model_1/model/conv2d_9/Conv2D'
out=$("$read_all" "$dir/hand_landmark_lite.tflite" model_1/model/conv2d/Conv2D 6 "$dw" 6 | tail -n 2)
expect "$(printf '%s\n' "$out" | head -n 1)" \
  "model_1/model/conv2d/Conv2D [24,3,3,3] 11.96875 5.47265625 -1.86230469 6.87890625 0.123413086 -7.28515625"
expect "$(printf '%s\n' "$out" | tail -n 1)" \
  "$dw [24,1,3,3] 0.00224685669 0.0920410156 0.0939941406 0.127563477 0.183837891 0.0853881836"
out=$("$read_all" "$dir/pose_landmark_heavy.tflite" model_1/model/conv2d_2/Conv2D 4 | tail -n 1)
expect "$out" "model_1/model/conv2d_2/Conv2D [96,24,1,1] 0.347167969 -0.0135116577 -0.198974609 0.374755859"
# A sparse Conv2D kernel (stored [8, 1, 1, 32], CSR over its last dimension, behind DENSIFY and DEQUANTIZE),
# densified and shown [O, I, H, W]. All 46 sparse kernels of this file were checked once against an
# independent densification in Python of flatc's JSON dump (TFLite's FormatConverter algorithm): equal.
out=$("$read_all" "$dir/face_detection_full_range_sparse.tflite" model_1/model/conv2d_1/Conv2D_dequantize 8 | tail -n 1)
expect "$out" "model_1/model/conv2d_1/Conv2D_dequantize [8,32,1,1] -0.0785522461 0 -0.0928344727 0 0.12310791 0 -0.038482666 0.112792969"
# A dump through the CLI, shown order: row 0 of the first Conv2D kernel starts with the values above.
"$inspect" "$dir/hand_landmark_lite.tflite" --dump model_1/model/conv2d/Conv2D --rows 0:1 --json |
  grep -q '"shape":\[24,3,3,3\],"rows":\[0,1\],"values":\[11.96875,5.47265625,' || { echo "probex-inspect --dump differs"; fail=1; }
exit $fail
