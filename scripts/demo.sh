#!/usr/bin/env bash
# Command (1) of the README: sets everything up on a fresh Debian 12 machine and runs the main job on
# the embedded default. Today that is: install the Debian packages, build (release), build the small
# model zoo from Fashion-MNIST and print its summary. Safe to re-run; the zoo is rebuilt each time
# (same seed, same bytes).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
./build/release/converter/probex-zoo --config small --out zoo/small --force
echo
echo "demo: the small zoo is in zoo/small (manifest: zoo/small/manifest.jsonl)"
