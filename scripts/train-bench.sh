#!/usr/bin/env bash
# Training speed (a program that prints figures, not a test): probex-train-bench beside the authors' module
# and loop in PyTorch (scripts/train_bench_torch.py; skipped where Debian's python3-torch is missing) on
# the same shapes, 1 and 2 threads: 300 layers of [128, 784] with 10 labels (the sanity zoo's fc1), and
# Model-J's 1000 layers of [768, 768] with 100 labels (about 2.3 GB of layers in memory). Both use the same
# OpenBLAS kernel: probex chooses it from the CPU's features; PyTorch gets it through OPENBLAS_CORETYPE.
# Usage: scripts/train-bench.sh [BUILD_DIR]   (default build/release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/release}
core=$("$bin/converter/probex-train-bench" --models 1 --epochs 1 | sed -n 's/^OpenBLAS kernel \([^ ]*\) .*/\1/p')
echo "CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), OpenBLAS kernel $core"
for shape in "300 128 784 10 3" "1000 768 768 100 1"; do
  read -r models rows cols labels epochs <<<"$shape"
  for threads in 1 2; do
    echo
    echo "== $models layers of [$rows, $cols], $labels labels, $threads thread(s)"
    "$bin/converter/probex-train-bench" --models "$models" --rows "$rows" --cols "$cols" --labels "$labels" \
      --epochs "$epochs" --threads "$threads" | grep -E "seconds|achieved|sgemm peak|peak RSS"
    set +e
    OPENBLAS_CORETYPE=$core /usr/bin/python3 scripts/train_bench_torch.py --models "$models" --rows "$rows" \
      --cols "$cols" --labels "$labels" --epochs "$epochs" --threads "$threads"
    set -e
  done
done
