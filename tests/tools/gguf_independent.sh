#!/bin/sh
# The GGUF writer's files, read by an independent parser: npm's @huggingface/gguf (fetched once into
# CACHE with npm, versions pinned), run with node. Every tensor's name, dims, type and data offset and
# every metadata value must be what the writer says it wrote. Exit 77 (skipped) without node or npm.
# Usage: gguf_independent.sh WRITE_GGUF_SAMPLE CACHE WORK
set -eu
writer=$1
cache=$2
work=$3
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || { echo "gguf_independent: $tool not found: skipped"; exit 77; }
done
pkg="$cache/npm-huggingface-gguf-0.4.6"
if [ ! -f "$pkg/node_modules/@huggingface/gguf/package.json" ]; then
  rm -rf "$pkg.partial"
  mkdir -p "$pkg.partial"
  npm install --silent --no-audit --no-fund --prefix "$pkg.partial" @huggingface/gguf@0.4.6 @huggingface/tasks@0.21.54
  rm -rf "$pkg"
  mv "$pkg.partial" "$pkg"
fi
rm -rf "$work"
mkdir -p "$work"
"$writer" "$work/sample.gguf" | LC_ALL=C sort > "$work/expected.txt"
node "$(dirname "$0")/gguf_peer_dump.js" "$pkg/node_modules/@huggingface/gguf" "$work/sample.gguf" | LC_ALL=C sort > "$work/peer.txt"
diff "$work/expected.txt" "$work/peer.txt"
echo "gguf_independent: @huggingface/gguf reads the same $(grep -c '^tensor' "$work/peer.txt") tensors and $(grep -c '^meta' "$work/peer.txt") metadata values"
