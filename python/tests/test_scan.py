"""python3 -m probex.scan on Dask: the records of probex-audit --json, resumable, exactly once when a worker dies."""
from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SOURCE, read_safetensors, write_safetensors
from probex.scan import find_models, read_done, scan


def without_seconds(line: str) -> str:
    return re.sub(r',"seconds":(\{[^}]*\}|null)', "", line)


def cli_lines(audit_cli, bundle, paths) -> dict[str, str]:
    """probex-audit --json's lines by model, without the timings."""
    run = subprocess.run([str(audit_cli), str(bundle), *paths, "--json"], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    return {json.loads(line)["model"]: without_seconds(line) for line in run.stdout.splitlines()}


def scan_lines(out: Path) -> dict[str, str]:
    """The scan's lines by model; fails on a model written twice."""
    lines = {}
    for line in out.read_text().splitlines():
        model = json.loads(line)["model"]
        assert model not in lines, f"{model} written twice"
        lines[model] = without_seconds(line)
    return lines


@pytest.fixture(scope="session")
def mixed(tmp_path_factory, zoo) -> Path:
    """Models of every kind the walk must tell apart: a sharded checkpoint (a folder that is one model), a
    truncated file (a failure with its status), notes (not a model), a hidden folder (skipped), nesting."""
    root = tmp_path_factory.mktemp("mixed")
    shutil.copytree(zoo / "mlp-a" / "test" / "subset-0000", root / "a" / "subset-0000")
    shutil.copy(zoo / "mlp-c" / "test" / "subset-0000" / "model.safetensors", root / "a" / "c.safetensors")
    tensors = read_safetensors(zoo / "mlp-b" / "test" / "subset-0001")
    sharded = root / "b" / "sharded"
    sharded.mkdir(parents=True)
    weight_map = {}
    for k, (name, array) in enumerate(tensors.items()):
        shard = f"model-{k + 1:05d}-of-{len(tensors):05d}.safetensors"
        write_safetensors(sharded / shard, {name: array})
        weight_map[name] = shard
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (root / "b" / "truncated.safetensors").write_bytes(b"\x10\0\0\0\0\0\0\0{truncated")
    (root / "b" / "notes.txt").write_text("not a model\n")
    (root / ".hidden").mkdir()
    shutil.copy(zoo / "mlp-a" / "root" / "model.safetensors", root / ".hidden" / "model.safetensors")
    return root


def test_find_models_as_probex_agent(agent_cli, bundle_ab, zoo, mixed):
    """The same models, in the same order, as the C agent finds (probex_model_format on every entry)."""
    for root in (zoo, mixed):
        run = subprocess.run([str(agent_cli), str(bundle_ab), str(root)], capture_output=True, text=True)
        assert [json.loads(line)["model"] for line in run.stdout.splitlines()] == list(find_models([str(root)]))
    found = list(find_models([str(mixed)]))
    assert found == [f"{mixed}/a/c.safetensors", f"{mixed}/a/subset-0000", f"{mixed}/b/sharded",
                     f"{mixed}/b/truncated.safetensors"]


def scan_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SOURCE / "python"),
                                                                        os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "probex.scan", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_scan_equals_audit_json_and_resumes(tmp_path, audit_cli, bundle_ab, zoo, mixed, zoo_models):
    """A scan on a local cluster of 2 processes writes probex-audit --json's records, each model once;
    re-run after a crash that cut the file mid-line, it audits only what is missing."""
    out = tmp_path / "results.jsonl"
    run = scan_cli(str(bundle_ab), str(zoo), str(mixed), "--out", str(out), "--workers", "2", "--batch", "8",
                   cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # the truncated file failed: it has its record all the same
    models = zoo_models + list(find_models([str(mixed)]))
    reference = cli_lines(audit_cli, bundle_ab, models)
    assert scan_lines(out) == reference
    assert '"status":"model_invalid"' in reference[f"{mixed}/b/truncated.safetensors"]
    assert '"format":"safetensors-sharded"' in reference[f"{mixed}/b/sharded"]
    assert f"audited {len(models)} models" in run.stdout
    # The summary counts what the records say (how many models each tree gets moves with the zoo's rounding
    # on each CPU: the router's bounds are tested in tests/CMakeLists.txt, not here).
    trees = [json.loads(line) for line in reference.values()]
    ok = [r for r in trees if r["status"] == "ok"]
    unknown = sum(r["tree"] is None for r in ok)
    per_tree = {t: sum(r["tree"] == t for r in ok) for t in ("mlp-a", "mlp-b")}
    assert f"unknown tree: {unknown}" in run.stdout and "failures: model_invalid 1" in run.stdout, run.stdout
    assert re.search(rf"trees: mlp-a {per_tree['mlp-a']}, mlp-b {per_tree['mlp-b']}", run.stdout), run.stdout
    assert min(per_tree.values()) >= 60 and unknown >= 60  # of 62 each: at most 2 misrouted per tree
    assert f"{len(models)}/{len(models)} models" in run.stderr  # the progress line's last state

    # A power cut mid-write: 50 whole lines, half of the 51st and zeros are left. The re-run goes to a
    # running scheduler (--scheduler), as on a cluster.
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:50]) + lines[50][:40] + bytes(100))
    from distributed import LocalCluster
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.CRITICAL) as cluster:
        run = scan_cli(str(bundle_ab), str(zoo), str(mixed), "--out", str(out), "--scheduler",
                       cluster.scheduler_address, "--quiet", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    assert f"audited {len(models) - 50} models" in run.stdout and "50 already in" in run.stdout
    assert scan_lines(out) == reference
    assert f"{len(models)} models in the output" in run.stdout  # the summary covers the whole file

    # A file that is not ours to repair: a bad line before good ones.
    out.write_bytes(b"".join(lines[:5]) + b"garbage\n" + b"".join(lines[5:10]))
    run = scan_cli(str(bundle_ab), str(zoo), "--out", str(out), "--workers", "1", "--quiet", cwd=tmp_path)
    assert run.returncode == 1 and "line 6 is not a JSON record" in run.stderr, run.stderr
    assert len(out.read_bytes().splitlines()) == 11  # left as it was


def batches_taken_back(dask_scheduler, then: str) -> int:
    """Batches the scheduler took from a dead worker: processing -> released happens only then (finished
    batches are released from memory), processing -> erred when it gives up on them (KilledWorker)."""
    return sum(1 for t in dask_scheduler.transition_log if t[1] == "processing" and t[2] == then)


def bundles_opened() -> int:
    import probex.scan
    return len(probex.scan._worker_bundles)


@pytest.mark.parametrize("allowed_failures", [3, 0])
def test_a_killed_worker_loses_nothing_and_duplicates_nothing(tmp_path, audit_cli, bundle_zs, zoo, zoo_models,
                                                              allowed_failures):
    """SIGKILL a worker process while it has a batch: the batch runs again elsewhere (Dask's default, 3
    allowed failures), or, when Dask gives up on it at once (0: KilledWorker), the scan runs its models one
    by one; either way each model is written once."""
    import dask
    from distributed import Client, LocalCluster

    out = tmp_path / "results.jsonl"
    then = "released" if allowed_failures else "erred"
    kills: list[dict] = []
    config = {"distributed.scheduler.allowed-failures": allowed_failures}
    with dask.config.set(config), LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                               dashboard_address=None, silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:

        def on_batch(done: int) -> None:
            # From a quarter of the models on; a worker may finish its batch just before the signal lands:
            # then kill again at a later batch (at most 5 times) until one was killed mid-batch.
            if done < len(zoo_models) // 4 or len(kills) == 5:
                return
            if kills and client.run_on_scheduler(batches_taken_back, then=then):
                return
            pids = client.run(os.getpid)  # worker address -> process id (a restarted worker has new ones)
            for address, tasks in client.processing().items():
                if tasks and address in pids:
                    kills.append({"address": address, "pid": pids[address], "done": done})
                    os.kill(pids[address], signal.SIGKILL)
                    deadline = time.monotonic() + 10
                    while address in client.scheduler_info()["workers"] and time.monotonic() < deadline:
                        time.sleep(0.01)  # until the scheduler has taken the worker's batches back
                    return

        result = scan(client, str(bundle_zs), [str(zoo)], str(out), batch=4, on_batch=on_batch)
        assert kills, "no worker was killed"
        assert client.run_on_scheduler(batches_taken_back, then=then), f"no kill caught a batch: {kills}"
        assert not {k["pid"] for k in kills} & set(client.run(os.getpid).values())  # the nanny restarted them
        # One bundle per worker process for all its batches (a restarted worker may have had none yet).
        assert 1 in set(client.run(bundles_opened).values()) <= {0, 1}
    assert result.audited == len(zoo_models) and not result.lost
    assert scan_lines(out) == cli_lines(audit_cli, bundle_zs, zoo_models)
    assert len(read_done(str(out))) == len(zoo_models)


def test_scan_with_trusted_keys(tmp_path, bundle_zs, zoo):
    """--trusted-key: the client and every worker open the bundle only if one of the keys signed it."""
    signed, keys = bundle_zs.parent / "small-signed.probex", bundle_zs.parent / "keys"
    model = str(zoo / "mlp-a" / "test" / "subset-0000")
    out = tmp_path / "results.jsonl"
    run = scan_cli(str(signed), model, "--out", str(out), "--trusted-key", f"{keys}-b.public", cwd=tmp_path)
    assert run.returncode == 1 and "not a trusted key [bundle_signature]" in run.stderr and not out.exists()
    run = scan_cli(str(signed), model, "--out", str(out), "--trusted-key", f"{keys}-a.public", "--workers", "1",
                   cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(out.read_text())["tree"] == "mlp-a"
