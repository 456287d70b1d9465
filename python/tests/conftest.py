"""Shared fixtures: the release build's small zoo, its bundles and CLIs (made by the release tests:
`ctest --preset release -LE long`), and the library of the preset `shared`.

    PROBEX_BUILD    the release build folder (default: build/release of this checkout)
    PROBEX_LIBRARY  the shared library probex loads (default: build/shared's, see probex/_capi.py)
"""
from __future__ import annotations

import json
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

SOURCE = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("PROBEX_BUILD", SOURCE / "build" / "release"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run the release tests first (ctest --preset release -LE long)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def zoo() -> Path:
    return _need(BUILD / "zoo-small")


@pytest.fixture(scope="session")
def bundle_zs() -> Path:
    """Trees mlp-a, mlp-b, mlp-c with zero-shot experts and a router."""
    return _need(BUILD / "small-zs.probex")


@pytest.fixture(scope="session")
def bundle_ab() -> Path:
    """Trees mlp-a and mlp-b with a router: mlp-c's models are of unknown tree."""
    return _need(BUILD / "small-ab.probex")


@pytest.fixture(scope="session")
def audit_cli() -> Path:
    return _need(BUILD / "runtime" / "probex-audit")


@pytest.fixture(scope="session")
def agent_cli() -> Path:
    return _need(BUILD / "runtime" / "probex-agent")


@pytest.fixture(scope="session")
def zoo_models(zoo) -> list[str]:
    """Every model file of the small zoo, in probex-agent's order."""
    from probex.scan import find_models
    models = list(find_models([str(zoo)]))
    assert len(models) > 100
    return models


def cli_records(audit_cli: Path, bundle: Path, paths: list[str]) -> dict[str, dict]:
    """probex-audit --json's records by model, numbers kept as printed (strings), without "seconds"."""
    run = subprocess.run([str(audit_cli), str(bundle), *paths, "--json"], capture_output=True, text=True)
    assert run.returncode in (0, 1), run.stderr
    records = {}
    for line in run.stdout.splitlines():
        record = json.loads(line, parse_float=str, parse_int=str)
        record.pop("seconds")
        records[record["model"]] = record
    assert sorted(records) == sorted(paths)
    return records


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None) -> None:
    """A minimal safetensors writer (F32) for hand-made test models."""
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, array in tensors.items():
        blob = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The F32 tensors of a safetensors file, or of a zoo model's folder (the small zoo's models are F32)."""
    path = Path(path)
    data = (path / "model.safetensors" if path.is_dir() else path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32"
        begin, end = entry["data_offsets"]
        out[name] = np.frombuffer(data[8 + length + begin:8 + length + end], "<f4").reshape(entry["shape"])
    return out
