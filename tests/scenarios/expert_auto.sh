#!/bin/sh
# probex-train --expert auto end to end on the small zoo (a few epochs: the figures are noise here, the
# record and the choice are what is checked). Checks: every tree's JSON has a reader_choice with the three
# runnable candidates and the Dense expert (not runnable); the chosen one is the best on val among those
# that fit and run (a tie: fewer bytes); the candidates' figures are the methods' and, for probex and
# mvprobe2, those of --expert probex and --expert mvprobe --mv-views xxtu,xtxu; --out writes one checkpoint
# per tree, of the chosen expert's format, whose metadata says which expert, why, and every candidate's
# figures. A budget that fits only ProbeX keeps ProbeX and refuses the others untrained; a budget that fits
# nothing fails with exit 1 naming the budget.
# Usage: expert_auto.sh PYTHON PROBEX_TRAIN SMALL_ZOO WORK
set -eu
python=$1
train=$2
zoo=$3
work=$4
rm -rf "$work"
mkdir -p "$work"
common="--zoo $zoo --layer fc2.weight --epochs 6 --eval-every 2 --baseline-epochs 3 --quiet --threads 1"
# shellcheck disable=SC2086
"$train" $common --expert auto --json-out "$work/auto.json" --out "$work/auto" >"$work/auto.txt"
# shellcheck disable=SC2086
"$train" $common --tree mlp-b --baselines none --json-out "$work/probex.json" >/dev/null
# shellcheck disable=SC2086
"$train" $common --tree mlp-b --baselines none --expert mvprobe --mv-views xxtu,xtxu --json-out "$work/mv2.json" >/dev/null
# shellcheck disable=SC2086
"$train" $common --tree mlp-b --expert auto --max-expert-bytes 9M --json-out "$work/small.json" --out "$work/small" >/dev/null
set +e
# shellcheck disable=SC2086
"$train" $common --tree mlp-b --expert auto --max-expert-bytes 512K --out "$work/none" >"$work/none.txt" 2>&1
code=$?
set -e
[ "$code" = 1 ] || { echo "a budget that fits nothing: exit $code, expected 1"; cat "$work/none.txt"; exit 1; }
grep -q "tree mlp-b: no expert the device runtime can run fits --max-expert-bytes 512 KiB (524288 bytes" "$work/none.txt" ||
  { echo "the refusal does not name the tree and the budget:"; cat "$work/none.txt"; exit 1; }
[ ! -e "$work/none/mlp-b.safetensors" ] || { echo "a checkpoint was written for a refused tree"; exit 1; }
grep -q "expert choice (budget 64 MiB" "$work/auto.txt" || { echo "no expert choice printed:"; cat "$work/auto.txt"; exit 1; }
"$python" - "$work" <<'PY'
import json, os, struct, sys
work = sys.argv[1]

def metadata(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]

def check_tree(t, out, budget):
    rc = t["reader_choice"]
    assert rc["budget_bytes"] == budget, rc["budget_bytes"]
    cands = {c["reader"]: c for c in rc["candidates"]}
    assert [c["reader"] for c in rc["candidates"]] == ["probex", "mvprobe", "mvprobe2", "dense"], list(cands)
    for name, c in cands.items():
        assert c["runnable"] == (name != "dense"), (name, c)
        assert c["bytes"] == 4 * c["parameters"], (name, c)
        assert c["fits"] == (c["bytes"] <= budget), (name, c)
        assert c["status"] == ("refused by the budget" if not c["fits"] else "not runnable on devices" if name == "dense"
                               else "chosen" if name == rc["chosen"] else "not chosen (lower val bit accuracy)"), (name, c)
        if c["trained"]:  # the candidate's figures are its method's
            m = t["methods"][name]
            assert (c["val_bit"], c["test_bit"], c["test_exact"], c["test_auc"]) == \
                (m["val_bit_accuracy"], m["bit_accuracy"], m["exact_set"], m["mean_auc"]), (name, c, m)
        else:
            assert c["val_bit"] is None and name not in t["methods"], (name, c)
    assert cands["mvprobe2"]["views"] == "xxtu,xtxu" and cands["mvprobe"]["views"] == "xu,xxtu,xtu,xtxu"
    # mvprobe2 is sized by its live views: fewer bytes than the four views, more than ProbeX here.
    assert cands["probex"]["bytes"] < cands["mvprobe2"]["bytes"] < cands["mvprobe"]["bytes"], cands
    eligible = [c for c in rc["candidates"] if c["fits"] and c["runnable"]]
    assert all(c["trained"] for c in eligible), eligible
    best = max(eligible, key=lambda c: (c["val_bit"], -c["bytes"]))
    assert rc["chosen"] == best["reader"], (rc["chosen"], best)
    assert rc["reason"].startswith("auto: %s (val bit %.3f)" % (best["reader"], best["val_bit"])), rc["reason"]
    md = metadata(os.path.join(out, t["tree"] + ".safetensors"))
    mv = rc["chosen"] != "probex"
    assert md["reader"] == ("mvprobe" if mv else "probex"), md["reader"]
    assert md["format"] == ("probex-mvprobe-expert/1" if mv else "probex-expert/1"), md["format"]
    assert md["reader_candidate"] == rc["chosen"] and md["reader_reason"] == rc["reason"], md
    assert md["tree"] == t["tree"] and md["layer"] == "fc2.weight", md
    if mv:
        assert md["views"] == md["reader_views"] == cands[rc["chosen"]]["views"], md
    assert float(md["val_bit_accuracy"]) == best["val_bit"] and float(md["test_bit_accuracy"]) == best["test_bit"], md
    assert int(md["reader_budget_bytes"]) == budget, md
    for name, c in cands.items():
        assert int(md["reader_%s_bytes" % name]) == c["bytes"], (name, md)
        keys = ["val_reader_%s_bit" % name, "test_reader_%s_bit" % name, "test_reader_%s_auc" % name,
                "test_reader_%s_exact" % name]
        if c["trained"]:
            assert [float(md[k]) for k in keys] == [c["val_bit"], c["test_bit"], c["test_auc"], c["test_exact"]], (name, md)
        else:
            assert not any(k in md for k in keys), (name, md)
    return rc

auto = json.load(open(os.path.join(work, "auto.json")))["trees"]
assert sorted(os.listdir(os.path.join(work, "auto"))) == [t + ".safetensors" for t in ("mlp-a", "mlp-b", "mlp-c")]
assert [t["tree"] for t in auto] == ["mlp-a", "mlp-b", "mlp-c"], [t["tree"] for t in auto]
for t in auto:
    rc = check_tree(t, os.path.join(work, "auto"), 64 << 20)
    assert all(c["fits"] and c["trained"] for c in rc["candidates"]), rc  # fc2 [128, 256]: all under 64 MiB
    assert set(t["methods"]) == {"probex", "mvprobe", "mvprobe2", "dense", "stats", "chance"}, t["methods"]
    print("expert_auto: %s: %s" % (t["tree"], rc["reason"]))

# The candidates are the single experts: same seed, same figures.
b = next(t for t in auto if t["tree"] == "mlp-b")["methods"]
for path, single, name in (("probex.json", "probex", "probex"), ("mv2.json", "mvprobe", "mvprobe2")):
    m = json.load(open(os.path.join(work, path)))["trees"][0]["methods"][single]
    for key in ("bit_accuracy", "exact_set", "mean_auc", "val_bit_accuracy", "best_epoch"):
        assert m[key] == b[name][key], (name, key, m[key], b[name][key])
print("expert_auto: probex and mvprobe2 equal --expert probex and --expert mvprobe --mv-views xxtu,xtxu on mlp-b")

small = json.load(open(os.path.join(work, "small.json")))["trees"]
assert os.listdir(os.path.join(work, "small")) == ["mlp-b.safetensors"]  # only the chosen expert's checkpoint
rc = check_tree(small[0], os.path.join(work, "small"), 9 << 20)
assert rc["chosen"] == "probex", rc
assert [c["reader"] for c in rc["candidates"] if c["status"] == "refused by the budget"] == ["mvprobe", "mvprobe2", "dense"], rc
assert not any(c["trained"] for c in rc["candidates"] if c["runnable"] and c["reader"] != "probex"), rc
assert set(small[0]["methods"]) == {"probex", "dense", "stats", "chance"}, small[0]["methods"]  # dense: a baseline still
assert "mvprobe refused: 32.8 MiB > 9 MiB budget" in rc["reason"], rc["reason"]
print("expert_auto: a 9 MiB budget keeps ProbeX:", rc["reason"])
PY
echo "expert_auto: a 512 KiB budget fails with exit 1: $(tail -n 1 "$work/none.txt")"
