#!/usr/bin/env bash
# Fetches ONNX Runtime's CPU build for Node.js, the peer that tests and benchmarks run probex's ONNX export
# of an expert in (probex-convert --onnx-expert): the npm packages onnxruntime-node and onnxruntime-common
# 1.30.0 (MIT; `npm pack`, nothing installed, no install script run), SHA-256 of both tarballs pinned. Keeps
# CACHE/onnxruntime-node-1.30.0/node_modules/{onnxruntime-node,onnxruntime-common} with only what a Linux
# host of this architecture loads: the JavaScript and the x64 or arm64 shared libraries (~45 MB, of the
# package's 113 MB). Idempotent: an existing complete folder is kept.
#
#   scripts/fetch-onnxruntime.sh [CACHE_DIR]
#
# Prints the folder's path on its last line (require(FOLDER + '/node_modules/onnxruntime-node')). Default
# CACHE_DIR: ${PROBEX_CACHE:-$HOME/.cache/probex}. Exit 77 (tests and benchmarks skip) without node or npm,
# on a host the package has no build for, or when npm cannot fetch the packages (no network).
set -euo pipefail

cache=${1:-${PROBEX_CACHE:-$HOME/.cache/probex}}
version=1.30.0
node_sha256=6e3390d6b783e7be946fad629292799da28d0b42f84856e50d2c1b0383291e75
common_sha256=7906c439e0d3e0f4048caa23b64cdfadc0f455c377f579ce1ab2a4b778f07d5f
folder="$cache/onnxruntime-node-$version"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "fetch-onnxruntime: $tool is needed for ONNX Runtime (apt-get install nodejs npm): skipped" >&2
    exit 77
  fi
done
arch=$(node -p process.arch)
if [ "$(uname -s)" != Linux ] || { [ "$arch" != x64 ] && [ "$arch" != arm64 ]; }; then
  echo "fetch-onnxruntime: onnxruntime-node $version has no build for $(uname -s) $arch here: skipped" >&2
  exit 77
fi
binding=bin/napi-v6/linux/$arch
if [ -s "$folder/node_modules/onnxruntime-node/$binding/onnxruntime_binding.node" ] &&
   [ -s "$folder/node_modules/onnxruntime-common/package.json" ]; then
  echo "fetch-onnxruntime: have $folder" >&2
  echo "$folder"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-onnxruntime: npm pack onnxruntime-node@$version onnxruntime-common@$version (113 MB)" >&2
if ! (cd "$work" && npm pack --silent "onnxruntime-node@$version" "onnxruntime-common@$version" >/dev/null); then
  echo "fetch-onnxruntime: npm could not fetch the packages (no network?): skipped" >&2
  exit 77
fi
check() {  # TARBALL SHA256
  if [ "$(sha256sum "$1" | cut -d' ' -f1)" != "$2" ]; then
    echo "fetch-onnxruntime: $1 does not have the expected SHA-256 $2" >&2
    exit 1
  fi
}
check "$work/onnxruntime-node-$version.tgz" "$node_sha256"
check "$work/onnxruntime-common-$version.tgz" "$common_sha256"
mkdir -p "$work/node/node_modules" "$work/ort" "$work/common"
tar -xzf "$work/onnxruntime-node-$version.tgz" -C "$work/ort" package/package.json package/dist "package/$binding"
tar -xzf "$work/onnxruntime-common-$version.tgz" -C "$work/common"
mv "$work/ort/package" "$work/node/node_modules/onnxruntime-node"
mv "$work/common/package" "$work/node/node_modules/onnxruntime-common"
rm -rf "$folder"
mv "$work/node" "$folder"
echo "$folder"
