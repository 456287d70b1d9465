#!/bin/sh
# The held-out recipe end to end on the small zoo: scripts/heldout_finetune.py fine-tunes children of a
# root with NumPy and another recipe; probex-train --heldout scores every method on them. Checks: the
# children learned their task (test accuracy over twice chance), they carry the zoo's metadata keys and
# split "heldout", every method gets held-out figures, and the held-out models change nothing else (the
# test figures equal a run without --heldout). A folder with other splits is refused.
# Usage: heldout.sh PYTHON PROBEX_TRAIN SMALL_ZOO WORK
set -eu
python=$1
train=$2
zoo=$3
work=$4
here=$(dirname "$0")
rm -rf "$work"
mkdir -p "$work"
"$python" "$here/../../scripts/heldout_finetune.py" --zoo "$zoo" --out "$work/heldout" --tree mlp-b --children 4 --seed 3 2>/dev/null
"$python" - "$work/heldout/manifest.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 4, len(rows)
for r in rows:
    assert r["split"] == "heldout" and r["task"] == "subset" and r["tree"] == "mlp-b", r
    assert r["recipe"].startswith("numpy-sgd"), r["recipe"]
    assert float(r["test_accuracy"]) > 2 * float(r["test_chance"]), (r["model"], r["test_accuracy"])
print("heldout: 4 children, test accuracy", ", ".join(r["test_accuracy"][:5] for r in rows))
PY
"$train" --zoo "$zoo" --layer fc2.weight --tree mlp-b --epochs 5 --quiet --json-out "$work/plain.json" >/dev/null
"$train" --zoo "$zoo" --heldout "$work/heldout" --layer fc2.weight --tree mlp-b --epochs 5 --quiet \
  --json-out "$work/with.json" >"$work/with.txt"
grep -q "test 6 / heldout 4" "$work/with.txt" || { echo "no held-out count in:"; cat "$work/with.txt"; exit 1; }
"$python" - "$work/plain.json" "$work/with.json" <<'PY'
import json, sys
plain, held = (json.load(open(p))["trees"][0] for p in sys.argv[1:])
assert held["models"]["heldout"] == 4, held["models"]
for method in ("probex", "dense", "stats", "chance"):
    a, b = plain["methods"][method], held["methods"][method]
    for key in ("bit_accuracy", "exact_set", "mean_auc"):
        assert a[key] == b[key], (method, key, a[key], b[key])
    h = b["heldout"]
    assert 0.0 <= h["bit_accuracy"] <= 1.0 and 0.0 <= h["mean_auc"] <= 1.0, (method, h)
print("heldout: test figures unchanged by --heldout; held-out bit accuracy",
      ", ".join(f'{m} {held["methods"][m]["heldout"]["bit_accuracy"]:.3f}' for m in held["methods"]))
PY
set +e
"$train" --zoo "$zoo" --heldout "$zoo" --layer fc2.weight --tree mlp-b --epochs 5 --quiet >"$work/refused.txt" 2>&1
code=$?
set -e
[ "$code" = 1 ] && grep -q "where --heldout takes split 'heldout' only" "$work/refused.txt" ||
  { echo "a zoo with training splits as --heldout: exit $code"; cat "$work/refused.txt"; exit 1; }
echo "heldout: a folder with other splits is refused"
