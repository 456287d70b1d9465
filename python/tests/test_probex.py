"""The probex module against the C API's own output: probex-audit --json on the small zoo."""
from __future__ import annotations

import ctypes
import gc
import os
import shutil
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import probex
from probex import _capi
from conftest import SOURCE, cli_records, read_safetensors, write_safetensors


def g9(v) -> str:
    """A number as the JSON record prints it: float32 values, nine significant digits."""
    return "%.9g" % v


def expected_fields(bundle: probex.Bundle, r: probex.AuditResult) -> dict:
    """The fields of a record, made from the dataclass alone, numbers printed as the record prints them."""
    tree = bundle.tree(r.tree) if r.tree else None
    return {
        "model": r.model, "format": r.format, "declared_base_model": r.declared_base_model, "status": "ok",
        "tree": r.tree, "root": tree.root if tree else None, "layer": tree.layer if tree else None,
        "message": r.unknown_reason, "routed": r.routed,
        "route_distance": None if r.route_distance is None else g9(r.route_distance),
        "route_accept": None if r.route_accept is None else g9(r.route_accept),
        "route_margin": None if r.route_margin is None else g9(r.route_margin),
        "route_outcome": r.route_outcome,
        "route_band": None if r.route_band is None else [g9(v) for v in r.route_band],
        "layer_rounding": None if r.layer_rounding is None else g9(r.layer_rounding),
        "distances": {t: g9(d) for t, d in r.distances.items()},
        "labels": [{"name": n, "probability": g9(p), "predicted": n in r.predicted} for n, p in r.labels.items()],
        "zero_shot": [{"label": t, "cosine": g9(c), "trained": tree.zero_shot_labels[t]} for t, c in r.zero_shot.items()],
        "embedding": [g9(v) for v in r.embedding.tolist()],
    }


@pytest.mark.parametrize("bundle_name", ["bundle_zs", "bundle_ab"])
def test_audits_equal_the_cli_json(request, bundle_name, audit_cli, zoo_models):
    """Every field of every small-zoo audit, to the last printed digit, as probex-audit --json prints it."""
    path = request.getfixturevalue(bundle_name)
    reference = cli_records(audit_cli, path, zoo_models)
    with probex.Bundle(path) as bundle, probex.Auditor(bundle) as auditor:
        trees = set()
        for model in zoo_models:
            record = dict(reference[model])
            assert record.pop("schema_version") == "1"
            r = auditor.audit(model)
            assert expected_fields(bundle, r) == record, model
            assert r.labels and r.embedding.dtype == np.float32 and len(r.logits) == len(r.labels) if r.tree else True
            assert r.seconds.total > 0
            trees.add(r.tree)
    assert trees == {"mlp-a", "mlp-b", None}  # the bundles hold mlp-a and mlp-b: mlp-c is of no known tree


def test_audit_record_is_the_cli_line(bundle_ab, audit_cli, zoo_models, tmp_path):
    """audit_record() is probex_audit_json's line: identical to the CLI's but the timings, failures too."""
    bad = tmp_path / "truncated.safetensors"
    bad.write_bytes(b"\x10\0\0\0\0\0\0\0{truncated")
    models = zoo_models[::7] + [str(bad), str(tmp_path / "missing.safetensors")]
    run = subprocess.run([str(audit_cli), str(bundle_ab), *models, "--json"], capture_output=True, text=True)
    lines = [strip_seconds(line) for line in run.stdout.splitlines()]
    with probex.Bundle(bundle_ab) as bundle, probex.Auditor(bundle) as auditor:
        assert [strip_seconds(auditor.audit_record(m)) for m in models] == lines
    assert '"status":"model_invalid"' in lines[-2] and '"status":"io_error"' in lines[-1]


def strip_seconds(line: str) -> str:
    import re
    return re.sub(r',"seconds":(\{[^}]*\}|null)', "", line)


def test_route_is_the_routers_decision(bundle_zs, zoo_models):
    with probex.Bundle(bundle_zs) as bundle, probex.Auditor(bundle) as auditor:
        assert bundle.has_router
        for model in zoo_models[::10]:
            routed, audited = auditor.route(model), auditor.audit(model)
            assert routed.tree == audited.tree and routed.routed
            assert routed.distances == audited.distances and routed.route_margin == audited.route_margin
            assert not routed.labels and routed.embedding.size == 0


def test_audit_matrix_reads_the_array_in_place(bundle_zs, zoo_models):
    model = next(m for m in zoo_models if "/mlp-b/test/" in m)
    with probex.Bundle(bundle_zs) as bundle, probex.Auditor(bundle) as auditor:
        tree = bundle.tree("mlp-b")
        assert tree.layer_rule == "matrix"
        x = np.array(read_safetensors(Path(model))[tree.layer])  # a C-contiguous float32 copy of the layer
        assert x.shape == tree.shape
        from_file = auditor.audit(model, tree="mlp-b")
        # Padded to make any copy of x stand out against the few result arrays.
        tracemalloc.start()
        from_matrix = auditor.audit_matrix(x, "mlp-b")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < x.nbytes // 2, f"audit_matrix allocated {peak} bytes for a {x.nbytes}-byte matrix"
        assert from_matrix.labels == from_file.labels and from_matrix.zero_shot == from_file.zero_shot
        assert np.array_equal(from_matrix.embedding, from_file.embedding)
        assert from_matrix.model is None and from_matrix.format is None and not from_matrix.routed
        # Another dtype or layout is converted first, with the same result.
        assert auditor.audit_matrix(np.asfortranarray(x.astype(np.float64)), "mlp-b").labels == from_file.labels
        with pytest.raises(probex.ProbexError) as e:
            auditor.audit_matrix(x[:, :-1], "mlp-b")
        assert e.value.status == "layer_shape" and e.value.message


def test_bundle_describes_its_trees(bundle_zs):
    with probex.Bundle(bundle_zs) as bundle:
        assert [t.name for t in bundle.trees] == ["mlp-a", "mlp-b"]
        for i, tree in enumerate(bundle.trees):
            assert tree.index == i and tree.layer == "fc2.weight" and tree.labels and tree.embedding_size > 0
        zero_shot = bundle.tree("mlp-a").zero_shot_labels  # mlp-b has no zero-shot expert in small-zs
        assert zero_shot and any(not trained for trained in zero_shot.values()) and bundle.tree("mlp-a").text_source
        assert bundle.tree("mlp-a").reader == "probex"
        assert "mlp-b" in repr(bundle)


# ------------------------------------------------------------------------------------------------------------
# Errors: one exception class, the library's status name and message


def raises(status: str, call, *args, **kwargs) -> probex.ProbexError:
    with pytest.raises(probex.ProbexError) as info:
        call(*args, **kwargs)
    e = info.value
    assert e.status == status, e
    assert e.message and str(e) == f"{e.message} [{status}]"
    assert e.code == next(c for c in range(64) if probex.status_name(c) == status)
    return e


def test_error_missing_model_file(bundle_zs, audit_cli, tmp_path):
    missing = str(tmp_path / "missing.safetensors")
    cli = cli_records(audit_cli, bundle_zs, [missing])[missing]
    with probex.Bundle(bundle_zs) as bundle, probex.Auditor(bundle) as auditor:
        e = raises("io_error", auditor.audit, missing)
        assert e.message == cli["message"] and cli["status"] == "io_error"
        raises("io_error", auditor.route, missing)
        raises("io_error", probex.model_format, missing)


def test_error_bad_bundles(bundle_zs, zoo_models, tmp_path):
    raises("io_error", probex.Bundle, tmp_path / "missing.probex")
    raises("bundle_identifier", probex.Bundle, Path(zoo_models[0]) / "model.safetensors")  # a model is no bundle
    truncated = tmp_path / "truncated.probex"
    truncated.write_bytes(Path(bundle_zs).read_bytes()[:4096])
    e = raises("bundle_structure", probex.Bundle, truncated)
    assert str(truncated) in e.message
    raises("limit_exceeded", probex.Bundle, bundle_zs, max_bytes=1024)
    raises("bundle_signature", probex.Bundle, bundle_zs, trusted_keys=[bytes(32)])  # unsigned, a key required
    with pytest.raises(ValueError):
        probex.Bundle(bundle_zs, trusted_keys=[b"short"])


def test_signed_bundle_and_trusted_keys(bundle_zs):
    signed, keys = bundle_zs.parent / "small-signed.probex", bundle_zs.parent / "keys"
    key_a, key_b = (probex.read_key_file(f"{keys}-{k}.public") for k in "ab")
    with probex.Bundle(signed, trusted_keys=[key_b, key_a]) as bundle:  # one of them signed it
        assert bundle.trees
    e = raises("bundle_signature", probex.Bundle, signed, trusted_keys=[key_b])
    assert key_a.hex() in e.message and "not a trusted key" in e.message
    with pytest.raises(ValueError):
        probex.read_key_file(f"{keys}-a.secret")


def test_error_wrong_layer(bundle_zs, zoo_models, tmp_path):
    other = tmp_path / "other.safetensors"
    write_safetensors(other, {"other.weight": np.ones((4, 4), np.float32)})
    with probex.Bundle(bundle_zs) as bundle, probex.Auditor(bundle) as auditor:
        e = raises("layer_not_found", auditor.audit, other, tree="mlp-a")
        assert str(other) in e.message
        assert auditor.audit(other).tree is None  # routed: a model of no tree, not an error
        x = read_safetensors(Path(zoo_models[0]))["fc1.weight"]
        raises("layer_shape", auditor.audit_matrix, x, "mlp-a")
        raises("not_found", auditor.audit, zoo_models[0], tree="no-such-tree")
        raises("limit_exceeded", probex.Auditor(bundle, max_model_bytes=64).audit, zoo_models[0])
    with pytest.raises(ValueError):
        probex.Auditor(bundle, backend="cuda")


def test_error_closed_handles(bundle_zs, zoo_models):
    bundle = probex.Bundle(bundle_zs)
    auditor = probex.Auditor(bundle)
    auditor.close()
    auditor.close()  # harmless
    for call in (lambda: auditor.audit(zoo_models[0]), lambda: auditor.route(zoo_models[0]),
                 lambda: auditor.audit_record(zoo_models[0]), lambda: auditor.self_test(),
                 lambda: auditor.audit_matrix(np.zeros((2, 2), np.float32), "mlp-a")):
        assert "auditor is closed" in raises("invalid_argument", call).message
    second = probex.Auditor(bundle)
    bundle.close()  # closes its auditors first: the bundle must outlive them
    assert second.closed and bundle.closed
    raises("invalid_argument", second.audit, zoo_models[0])
    assert "bundle is closed" in raises("invalid_argument", probex.Auditor, bundle).message
    raises("invalid_argument", bundle.tree, "mlp-a")


def test_backends_and_threads_agree(bundle_zs, zoo_models):
    models = zoo_models[::25]
    with probex.Bundle(bundle_zs) as bundle:
        with probex.Auditor(bundle, backend="reference") as reference, probex.Auditor(bundle, threads=2) as xnn:
            assert reference.self_test() >= 0
            for m in models:
                a, b = reference.audit(m), xnn.audit(m)
                assert a.tree == b.tree and a.predicted == b.predicted
        # One auditor per thread, each its own results (the calls release the GIL).
        results: dict[int, list] = {}

        def work(k: int) -> None:
            with probex.Auditor(bundle) as auditor:
                results[k] = [auditor.audit(m).labels for m in models]

        threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results[0] == results[1]


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_no_leak_over_10000_audits(bundle_zs, zoo_models, tmp_path):
    """RSS stays flat over 10,000 audits of every kind, failed ones included."""
    missing = str(tmp_path / "missing.safetensors")
    models = zoo_models[:50]
    with probex.Bundle(bundle_zs) as bundle, probex.Auditor(bundle) as auditor:
        x = read_safetensors(Path(models[0]))["fc2.weight"].copy()

        def one(k: int) -> None:
            kind = k % 5
            if kind == 0:
                auditor.audit_record(models[k % len(models)])
            elif kind == 1:
                auditor.audit_matrix(x, "mlp-a")
            elif kind == 2:
                try:
                    auditor.audit(missing)
                except probex.ProbexError:
                    pass
            else:
                auditor.audit(models[k % len(models)])

        for k in range(1000):  # warm-up: caches, allocator arenas
            one(k)
        gc.collect()
        before = rss_bytes()
        for k in range(10_000):
            one(k)
        gc.collect()
        grown = rss_bytes() - before
    # 10,000 audits: a leak of 100 bytes per audit would be 1 MB.
    assert grown < 1 << 20, f"RSS grew by {grown} bytes over 10,000 audits"


# ------------------------------------------------------------------------------------------------------------
# The module's structs against the header, and the module as installed


def test_struct_layout_matches_the_header(tmp_path):
    """Each ctypes Structure field sits at the offset and has the size the C compiler gives it."""
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler")
    generated = next(SOURCE.glob("build/*/runtime/generated/probex/version.h"), None)
    assert generated, "no configured build (probex/version.h)"
    structs = {"probex_error": _capi.Error, "probex_bundle_options": _capi.BundleOptions,
               "probex_tree_info": _capi.TreeInfo, "probex_auditor_options": _capi.AuditorOptions,
               "probex_audit_result": _capi.AuditResult}
    lines = []
    expected = []
    for c_name, py in structs.items():
        lines.append(f'printf("{c_name} %zu\\n", sizeof({c_name}));')
        expected.append(f"{c_name} {ctypes.sizeof(py)}")
        for name, _ in py._fields_:
            lines.append(f'printf("{c_name}.{name} %zu %zu\\n", offsetof({c_name}, {name}), '
                         f'sizeof((({c_name}*)0)->{name}));')
            field = getattr(py, name)
            expected.append(f"{c_name}.{name} {field.offset} {field.size}")
    source = tmp_path / "layout.c"
    source.write_text('#include <stddef.h>\n#include <stdio.h>\n#include "probex/probex.h"\nint main(void) {\n'
                      + "\n".join(lines) + "\nreturn 0;\n}\n")
    binary = tmp_path / "layout"
    subprocess.run([cc, "-std=c11", f"-I{SOURCE / 'runtime/include'}", f"-I{generated.parent.parent}", str(source),
                    "-o", str(binary)], check=True)
    assert subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout.split("\n")[:-1] == expected


def test_version_check():
    assert probex.version().split(".")[0] == str(_capi.EXPECTED_MAJOR)
    assert Path(probex.library_path()).name.startswith("libprobex.so")


def test_import_from_a_staged_install(tmp_path, bundle_ab, zoo_models):
    """cmake --install of the preset shared, staged: import probex loads the staged library, no
    PROBEX_LIBRARY, from any folder, and audits as the build tree does."""
    shared = SOURCE / "build" / "shared"
    if not (shared / "CMakeCache.txt").exists():
        pytest.fail("no build/shared: cmake --preset shared && cmake --build --preset shared", pytrace=False)
    stage = tmp_path / "stage"
    subprocess.run(["cmake", "--install", str(shared)], env={**os.environ, "DESTDIR": str(stage)}, check=True,
                   capture_output=True)
    packages = list(stage.rglob("probex/_installed.py"))
    assert len(packages) == 1
    site = packages[0].parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PROBEX_LIBRARY", "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = str(site)
    code = ("import probex, sys\n"
            "b = probex.Bundle(sys.argv[1]); a = probex.Auditor(b)\n"
            "print(probex.library_path()); print(probex.__file__)\n"
            "print(a.audit_record(sys.argv[2]))\n")
    run = subprocess.run([sys.executable, "-c", code, str(bundle_ab), zoo_models[0]], env=env, cwd=tmp_path,
                         capture_output=True, text=True, check=True)
    library, module, record = run.stdout.splitlines()
    assert Path(library).resolve().is_relative_to(stage) and Path(module).is_relative_to(stage)
    with probex.Bundle(bundle_ab) as bundle, probex.Auditor(bundle) as auditor:
        assert strip_seconds(record) == strip_seconds(auditor.audit_record(zoo_models[0]))
