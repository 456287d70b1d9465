#!/usr/bin/env python3
"""A zoo exported to GGUF, TFLite or ONNX is audited like its safetensors original: the same bundle, routed,
on every model that is not in a training split (roots included).

Routing: an export's verdict must not contradict its original's. An export accepted or refused must land
where its original does (the same tree, or none); an export near the boundary (a lossy copy whose original
may lie on either side of the acceptance distance, docs/routing.md) must name the tree nearest to its
original. Contradictions must stay within --max-changed (default 0) and near-boundary verdicts within
--max-near. Labels: of the models audited both times with the same tree, at most MAX_FLIP_PERCENT of the
label decisions may flip decisively; a label whose original probability is within 0.001 of 0.5 sits on
the threshold, where any rounding of the weights may tip it: its flips are counted apart, and excused.

usage: zoo_export_audit.py FORMAT TYPE PROBEX_ZOO PROBEX_AUDIT BUNDLE ZOO WORK MAX_FLIP_PERCENT
                           [--max-changed N] [--max-near N]
  FORMAT gguf (TYPE a --gguf-type), tflite (TYPE a --tflite-type) or onnx (TYPE FLOAT, the only one)
"""
import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path


def audit(audit_cli, bundle, paths):
    run = subprocess.run([audit_cli, bundle, *map(str, paths), "--json"], capture_output=True, text=True)
    records = [json.loads(line) for line in run.stdout.splitlines()]
    if len(records) != len(paths):
        sys.exit(f"zoo_export_audit: {len(records)} records for {len(paths)} models: {run.stderr.strip()}")
    return records


def nearest(record):
    d = record["distances"]
    return min(d, key=d.get) if d else None


def main():
    p = argparse.ArgumentParser()
    for name in ("format", "type", "zoo_tool", "audit", "bundle", "zoo", "work"):
        p.add_argument(name)
    p.add_argument("max_flip", type=float)
    p.add_argument("--max-changed", type=int, default=0)
    p.add_argument("--max-near", type=int, default=0)
    a = p.parse_args()
    options = {"gguf": ["--gguf-type", a.type], "tflite": ["--tflite-type", a.type], "onnx": []}
    if a.format not in options:
        sys.exit(f"zoo_export_audit: unknown format '{a.format}'")
    zoo, work = Path(a.zoo), Path(a.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    subprocess.run([a.zoo_tool, "--export", str(zoo), "--out", str(work / "zoo"), "--format", a.format,
                    *options[a.format], "--force", "--quiet"], check=True, stdout=subprocess.DEVNULL)
    models = sorted(str(m.relative_to(zoo)) for m in zoo.rglob("model.safetensors") if "/train/" not in str(m))
    if not models:
        sys.exit(f"zoo_export_audit: no models under {zoo}")
    originals = audit(a.audit, a.bundle, [zoo / m for m in models])
    exported = audit(a.audit, a.bundle, [work / "zoo" / m.replace("model.safetensors", "model." + a.format)
                                         for m in models])

    bad, changed, notes = [], [], []
    near = home = refused = same_set = audited = labels = flips = at_threshold = 0
    for i, (m, o, e) in enumerate(zip(models, originals, exported)):
        if o["format"] != "safetensors" or e["format"] != a.format or o["status"] != "ok" or e["status"] != "ok":
            bad.append(f"model {m}: {o['status']} {o['format']} / {e['status']} {e['format']}")
            continue
        home += e["tree"] == m.split("/")[0]
        refused += e["tree"] is None
        if e["route_outcome"] == "near_boundary":
            near += 1
            low, high = e["route_band"]
            notes.append(f"model {m}: near the boundary of {nearest(e)}: distance {e['route_distance']:.4f} in "
                         f"[{low:.4f}, {high:.4f}] (rounding {e['layer_rounding']:.4f}); its original "
                         f"{o['route_distance']:.4f}, {o['route_outcome']} up to {o['route_accept']:.4f}")
            if nearest(e) != nearest(o):
                changed.append(f"model {m}: near the boundary of {nearest(e)}, its original nearest to {nearest(o)}")
        elif e["tree"] != o["tree"]:
            changed.append(f"model {m}: routed to {e['tree']} ({e['route_outcome']}), its original to {o['tree']}")
        if o["tree"] is None or e["tree"] != o["tree"]:
            continue
        audited += 1
        if len(o["labels"]) != len(e["labels"]):
            bad.append(f"model {m}: label counts differ")
            continue
        same = True
        for lo, le in zip(o["labels"], e["labels"]):
            labels += 1
            if lo["predicted"] != le["predicted"]:
                same = False
                flips += 1
                at_threshold += abs(lo["probability"] - 0.5) <= 0.001
        same_set += same
    rate = 100 * flips / labels if labels else 0
    decisive = 100 * (flips - at_threshold) / labels if labels else 0
    print(f"zoo_export_audit {a.format} {a.type}: {len(models)} models; routing contradicts the original "
          f"{len(changed)} (max {a.max_changed}), near the boundary {near} (max {a.max_near}); home {home}, refused "
          f"{refused}; same predicted set {same_set} of {audited}; label flips {flips} of {labels} ({rate:.2f}%), "
          f"{at_threshold} of them on the threshold (decisive {decisive:.2f}%, max {a.max_flip}%)")
    for line in notes + changed:
        print("  " + line)
    failed = bad or len(changed) > a.max_changed or near > a.max_near or decisive > a.max_flip
    for line in bad:
        print("zoo_export_audit: " + line)
    if failed:
        print("zoo_export_audit: FAILED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
