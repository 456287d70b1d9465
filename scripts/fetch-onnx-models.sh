#!/usr/bin/env bash
# Fetches real ONNX models for the ONNX reader's tests: Silero VAD (legacy, v5, v6; MIT) as shipped in the
# npm package @ricky0123/vad-web 0.0.31 (`npm pack`, nothing installed), checks the tarball's SHA-256 and
# each model's, and keeps the three .onnx files in CACHE/onnx-silero-vad-0.0.31. v5 and v6 keep every
# weight as Constant nodes inside If branches; legacy keeps them as initializers of nested If branches.
# Idempotent: an existing folder with the three files is kept.
#
#   scripts/fetch-onnx-models.sh [CACHE_DIR]
#
# Prints the folder's path on its last line. Default CACHE_DIR: ${PROBEX_CACHE:-$HOME/.cache/probex}.
# Exit 77 without npm (tests treat it as skipped).
set -euo pipefail

cache=${1:-${PROBEX_CACHE:-$HOME/.cache/probex}}
package=@ricky0123/vad-web
version=0.0.31
tgz_sha256=d1a211cf1a2ed26297da52cc08de79e75d79838a274bfc6de546feb1f828c940
models=(
  "silero_vad_legacy.onnx a35ebf52fd3ce5f1469b2a36158dba761bc47b973ea3382b3186ca15b1f5af28"
  "silero_vad_v5.onnx 2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f"
  "silero_vad_v6.onnx 1a153a22f4509e292a94e67d6f9b85e8deb25b4988682b7e174c65279d8788e3"
)
folder="$cache/onnx-silero-vad-$version"

have=1
for m in "${models[@]}"; do [ -s "$folder/${m%% *}" ] || have=0; done
if [ "$have" = 1 ]; then
  echo "fetch-onnx-models: have $folder" >&2
  echo "$folder"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-onnx-models: npm is needed to fetch $package (apt-get install npm)" >&2
  exit 77
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-onnx-models: npm pack $package@$version" >&2
(cd "$work" && npm pack --silent "$package@$version" >/dev/null)
tgz="$work/ricky0123-vad-web-$version.tgz"
if [ "$(sha256sum "$tgz" | cut -d' ' -f1)" != "$tgz_sha256" ]; then
  echo "fetch-onnx-models: $tgz does not have the expected SHA-256 $tgz_sha256" >&2
  exit 1
fi
members=()
for m in "${models[@]}"; do members+=("package/dist/${m%% *}"); done
tar -xzf "$tgz" -C "$work" "${members[@]}"
for m in "${models[@]}"; do
  name=${m%% *}
  if [ "$(sha256sum "$work/package/dist/$name" | cut -d' ' -f1)" != "${m##* }" ]; then
    echo "fetch-onnx-models: $name does not have the expected SHA-256 ${m##* }" >&2
    exit 1
  fi
done
rm -rf "$folder.partial"
mkdir -p "$folder.partial"
for m in "${models[@]}"; do mv "$work/package/dist/${m%% *}" "$folder.partial/"; done
rm -rf "$folder"
mv "$folder.partial" "$folder"
echo "$folder"
