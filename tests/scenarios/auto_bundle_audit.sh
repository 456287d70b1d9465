#!/bin/sh
# A bundle made from probex-train --expert auto's checkpoints audits on the device with the figures the
# trainer reported: probex-convert ships each tree's chosen reader (ProbeX or MVProbe), probex-inspect
# names it, and probex-audit on each tree's test split (its 'subset' models, the ones the trainer scores)
# gives the bit accuracy the trainer wrote into the checkpoint (test_bit_accuracy), to the 4 decimals both print.
# Usage: auto_bundle_audit.sh PYTHON PROBEX_CONVERT PROBEX_INSPECT PROBEX_AUDIT SMALL_ZOO CHECKPOINTS WORK
set -eu
python=$1
convert=$2
inspect=$3
audit=$4
zoo=$5
checkpoints=$6
work=$7
rm -rf "$work"
mkdir -p "$work"
"$convert" --out "$work/auto.probex" --quant f32 --zoo "$zoo" --quiet "$checkpoints"/mlp-a.safetensors \
  "$checkpoints"/mlp-b.safetensors "$checkpoints"/mlp-c.safetensors
"$inspect" "$work/auto.probex" --json --self-test >"$work/inspect.json"
for tree in mlp-a mlp-b mlp-c; do
  # shellcheck disable=SC2046
  "$audit" "$work/auto.probex" --tree "$tree" --truth dataset_chosen_targets \
    $(ls -d "$zoo/$tree"/test/subset-* | sed 's|$|/model.safetensors|') >"$work/$tree.txt"
done
"$python" - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
info = json.load(open(f"{work}/inspect.json"))
assert info["self_test"].startswith("passed"), info["self_test"]
readers = set()
# The device and the trainer compute the same float expert with other kernels (XNNPACK, OpenBLAS): a label
# whose probability sits on 0.5 may flip. Allowed: one flip of the 3 trees' 180 test bits (1/60 in one tree).
flip, deviation = 1 / 60, 0.0
for t in info["trees"]:
    reader = t["reader"]
    readers.add(reader["name"])
    assert reader["reason"].startswith("auto: "), (t["name"], reader)
    want = t["metrics"]["test_bit_accuracy"]
    text = open(f"{work}/{t['name']}.txt").read()
    m = re.search(r"bit accuracy ([0-9.]+)", text)
    assert m, text
    got = float(m.group(1))
    assert abs(got - want) <= flip + 1e-4, (t["name"], reader["name"], "device", got, "trainer", want)
    deviation += abs(got - want)
    print(f"{t['name']}: {reader['name']} {reader['views']} bit accuracy {got:.4f} on the device, {want:.4f} in training")
assert deviation <= flip + 1e-4, ("more than one label flipped between the device and the trainer", deviation)
print("readers shipped:", sorted(readers))
PY
