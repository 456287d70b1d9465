#!/usr/bin/env bash
# Command (1) of the README: sets everything up on a fresh Debian 12 machine and runs the main job on
# the embedded default, the demo zoo (3 trees of real Fashion-MNIST fine-tunes + 1 foreign tree):
# install the Debian packages, build (release), build the zoo, train one ProbeX expert per tree (with an
# HTML report), convert them into an int8 bundle with a router, check the bundle on this machine
# (self-test), audit one model in full, audit every held-out test model against its true fine-tuning
# classes, and show models of a tree the bundle does not know being refused. Safe to re-run (same seeds,
# same bytes on the same CPU kind).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
bin=./build/release

echo
echo "== 1. the demo zoo: 3 trees (roots pre-trained from their own seeds) x 90 fine-tunes, 1 foreign tree (zoo/demo)"
$bin/converter/probex-zoo --config demo --out zoo/demo --force

echo
echo "== 2. one ProbeX expert per tree on fc2.weight (zoo/experts-demo; report: zoo/experts-demo/report/index.html)"
$bin/converter/probex-train --zoo zoo/demo --layer fc2.weight --epochs 100 --baselines none --quiet \
  --out zoo/experts-demo --report zoo/experts-demo/report

echo
echo "== 3. an int8 bundle with a router (zoo/demo-int8.probex); the runtime is checked against the float experts"
$bin/converter/probex-convert --out zoo/demo-int8.probex --quant int8 --zoo zoo/demo --force --route-report \
  zoo/experts-demo/mlp-a.safetensors zoo/experts-demo/mlp-b.safetensors zoo/experts-demo/mlp-c.safetensors

echo
echo "== 4. the bundle, checked on this machine"
$bin/runtime/probex-inspect zoo/demo-int8.probex --self-test | tail -n 1

echo
echo "== 5. one audit, in full (the router picks the tree; the truth is the model's own metadata)"
$bin/runtime/probex-audit zoo/demo-int8.probex zoo/demo/mlp-b/test/subset-0000/model.safetensors \
  --truth dataset_chosen_targets

echo "== 6. models of a tree the bundle does not hold (their root was never published): refused"
$bin/runtime/probex-audit zoo/demo-int8.probex zoo/demo/foreign-a/foreign/subset-000[01]/model.safetensors

echo "== 7. every held-out test model of every tree, routed and audited"
$bin/runtime/probex-audit zoo/demo-int8.probex zoo/demo/mlp-*/test/subset-*/model.safetensors \
  --truth dataset_chosen_targets --quiet
echo
echo "demo done in $(( $(date +%s) - start )) s: zoo in zoo/demo, experts and report in zoo/experts-demo, bundle zoo/demo-int8.probex"
echo "The demo's fine-tunes keep their root's head, which leaves a clear trace: read almost perfectly. Fine-tunes"
echo "with fresh heads, as on public hubs, are harder (bit accuracy 0.55-0.65 on the standard zoo): docs/accuracy.md."
echo "Zero-shot labels (label texts never trained on): docs/zero-shot.md."
