#!/bin/sh
# The GGUF writer's files, read by an independent parser: npm's @huggingface/gguf (fetched once into
# CACHE with npm, versions pinned), run with node. Every tensor's name, dims, type and data offset and
# every metadata value must be what the writer says it wrote. With PROBEX_INSPECT, the runtime's reader too:
# `probex-inspect FILE --json` must list every tensor with the name, the dims (reversed: PyTorch order) and
# the type name the independent parser finds. Exit 77 (skipped) without node or npm.
# Usage: gguf_independent.sh WRITE_GGUF_SAMPLE CACHE WORK [PROBEX_INSPECT]
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
node "$(dirname "$0")/../helpers/gguf_peer_dump.js" "$pkg/node_modules/@huggingface/gguf" "$work/sample.gguf" | LC_ALL=C sort > "$work/peer.txt"
diff "$work/expected.txt" "$work/peer.txt"
if [ $# -ge 4 ]; then
  "$4" "$work/sample.gguf" --json > "$work/inspect.json"
  node -e '
    const m = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (m.format !== "gguf") throw new Error("probex-inspect says format " + m.format);
    console.log(m.tensors.map((t) => `tensor ${t.name} ${[...t.shape].reverse().join(",")} ${t.dtype}`).sort().join("\n"));
  ' "$work/inspect.json" > "$work/inspect.txt"
  grep '^tensor' "$work/peer.txt" | cut -d' ' -f1-4 > "$work/peer-tensors.txt"
  diff "$work/peer-tensors.txt" "$work/inspect.txt"
  echo "gguf_independent: probex-inspect lists the same $(wc -l < "$work/inspect.txt") tensors (names, dims, types)"
fi
echo "gguf_independent: @huggingface/gguf reads the same $(grep -c '^tensor' "$work/peer.txt") tensors and $(grep -c '^meta' "$work/peer.txt") metadata values"
