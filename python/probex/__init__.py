"""probex: which model tree a model file descends from, what it was fine-tuned on, which label texts match.

A Python face of the probex runtime library (libprobex.so.1, its C API probex/probex.h) through ctypes:
the audits, file readers, checks and JSON records are the library's, nothing is redone here.

    import probex
    with probex.Bundle("small-zs.probex") as bundle, probex.Auditor(bundle) as auditor:
        result = auditor.audit("zoo/mlp-a/test/subset-0000/model.safetensors")
        print(result.tree, sorted(result.predicted), result.labels)

Every failure raises ProbexError, carrying the library's status name (e.g. "io_error") and its message.
The library is found through PROBEX_LIBRARY, else beside an installed package (cmake --install), else in a
source checkout's build/shared, else by the dynamic loader.
"""
from __future__ import annotations

import ctypes
import math
import os
import weakref
from dataclasses import dataclass, field
from typing import Iterable, Optional, Union

import numpy as np

from . import _capi
from ._capi import lib as _lib

__all__ = ["ProbexError", "Bundle", "Auditor", "AuditResult", "Timings", "Tree", "model_format", "read_key_file",
           "status_name", "version", "library_path", "BACKENDS"]

PathLike = Union[str, bytes, "os.PathLike[str]"]
BACKENDS = tuple(_capi.BACKENDS)


def version() -> str:
    """The loaded library's version, e.g. "1.1.0" (probex_version)."""
    return _lib.probex_version().decode()


def library_path() -> str:
    """The path of the shared library this module loaded."""
    return _capi.PATH


def status_name(status: int) -> str:
    """The library's short name of a probex_status, e.g. "bundle_content"."""
    return _lib.probex_status_name(status).decode()


class ProbexError(Exception):
    """A probex call failed. `status` is the library's status name ("io_error", "layer_not_found", ...),
    `code` its number (probex_status), `message` the library's sentence naming the file and the problem."""

    def __init__(self, status: str, message: str, code: int):
        super().__init__(f"{message} [{status}]")
        self.status = status
        self.message = message
        self.code = code

    @classmethod
    def _from(cls, code: int, error: _capi.Error) -> "ProbexError":
        return cls(status_name(code), error.message.decode(errors="replace"), code)

    @classmethod
    def _closed(cls, what: str) -> "ProbexError":
        return cls(status_name(_capi.PROBEX_INVALID_ARGUMENT), f"the {what} is closed", _capi.PROBEX_INVALID_ARGUMENT)


def _check(code: int, error: _capi.Error) -> None:
    if code != _capi.PROBEX_OK:
        raise ProbexError._from(code, error)


def _text(p: Optional[bytes]) -> Optional[str]:
    """A C string as str; None for NULL or "" (the API's "nothing")."""
    return p.decode(errors="replace") if p else None


def model_format(path: PathLike) -> Optional[str]:
    """The model format a file or folder holds, by content ("safetensors", "gguf", "tflite", "onnx",
    "safetensors-sharded", "peft-lora"), or None if it holds none; ProbexError if it cannot be read."""
    fmt, error = ctypes.c_char_p(), _capi.Error()
    code = _lib.probex_model_format(os.fsencode(path), ctypes.byref(fmt), ctypes.byref(error))
    if code == _capi.PROBEX_NOT_A_MODEL:
        return None
    _check(code, error)
    return fmt.value.decode()


def read_key_file(path: PathLike) -> bytes:
    """An Ed25519 public key file as probex-keygen writes it (64 hex digits, then optional white space), as
    the 32 bytes Bundle(trusted_keys=...) takes. The C API reads no key files: this is the CLIs' rule."""
    with open(path, "rb") as f:
        text = f.read(4096).rstrip()
    try:
        key = bytes.fromhex(text.decode("ascii")) if len(text) == 64 else b""
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(f"{os.fsdecode(path)}: a key file holds 64 hex digits (probex-keygen's .public file)")
    return key


@dataclass(frozen=True)
class Tree:
    """A model tree of a bundle: its expert's layer and labels (probex_tree_info)."""
    index: int
    name: str
    root: Optional[str]
    layer: str
    layer_rule: str
    shape: tuple[int, int]                 # (d_h, d_w): the probed matrix after the shaping rule
    embedding_size: int                    # r_T
    labels: tuple[str, ...]                # the classifier's labels, in the bundle's order
    zero_shot_labels: dict[str, bool]      # zero-shot label text -> whether the expert was trained on it
    weight_type: str                       # "f32", "f16", "int8"
    text_source: Optional[str]
    reader: str                            # the expert kind: "probex" or "mvprobe" (the C API's name)


@dataclass(frozen=True)
class Timings:
    """Seconds per stage of one audit; they add up to `total`."""
    open: float
    read: float
    route: float
    probe: float
    rest: float
    zero_shot: float

    @property
    def total(self) -> float:
        return self.open + self.read + self.route + self.probe + self.rest + self.zero_shot


@dataclass(frozen=True)
class AuditResult:
    """One audit. `tree` is None when the model belongs to no tree of the bundle (`unknown_reason` says why);
    then the label, zero-shot and embedding fields are empty."""
    model: Optional[str]                   # the path audited (None for audit_matrix)
    format: Optional[str]                  # "safetensors", "gguf", ... (None for audit_matrix)
    declared_base_model: Optional[str]     # what the file claims it derives from: a claim, not a finding
    tree: Optional[str]
    unknown_reason: Optional[str]
    labels: dict[str, float]               # label -> probability, in the bundle's label order
    predicted: frozenset[str]              # labels with probability >= 0.5
    logits: np.ndarray                     # float32, one per label
    zero_shot: dict[str, float]            # zero-shot label text -> cosine, best first
    embedding: np.ndarray                  # float32, r_T numbers
    routed: bool                           # the router chose (or refused) the tree
    route_distance: Optional[float]        # None unless routed
    route_accept: Optional[float]
    route_margin: Optional[float]          # None unless routed, or with one candidate tree (infinite)
    route_outcome: Optional[str]           # "accepted", "near_boundary" or "refused"; None unless routed
    route_band: Optional[tuple[float, float]]  # distances up to [0]: accepted; above [1]: refused (docs/routing.md)
    layer_rounding: Optional[float]        # the stored layer's rounding error relative to its norm (0: float32)
    distances: dict[str, float]            # tree -> distance to its root, trees whose layer the model has
    seconds: Timings = field(repr=False)


# probex_route_outcome (probex.h)
_ROUTE_OUTCOMES = {1: "accepted", 2: "near_boundary", 3: "refused"}


def _floats(pointer, count: int) -> np.ndarray:
    # A copy: the library's arrays live in the auditor until its next audit.
    return np.ctypeslib.as_array(pointer, (count,)).copy() if count else np.zeros(0, np.float32)


class Bundle:
    """A verified probex bundle, read into memory (probex_bundle_open). A context manager; close() frees it
    and closes the auditors made from it (the bundle must outlive them)."""

    def __init__(self, path: PathLike, *, trusted_keys: Iterable[bytes] = (), max_bytes: int = 0):
        """Opens and verifies the bundle at `path`. `trusted_keys`: Ed25519 public keys (32 bytes each); if
        any, the bundle must be signed by one of them. `max_bytes`: refuse larger bundle files (0: 256 MiB)."""
        self._handle: Optional[int] = None  # first: __del__ runs even when __init__ raises
        self._auditors: "weakref.WeakSet[Auditor]" = weakref.WeakSet()
        keys = b"".join(trusted_keys)
        if len(keys) % 32:
            raise ValueError("a trusted key is 32 bytes (an Ed25519 public key)")
        options = _capi.BundleOptions()
        _lib.probex_bundle_options_init(ctypes.byref(options), ctypes.sizeof(options))
        key_buffer = (ctypes.c_uint8 * max(len(keys), 1)).from_buffer_copy(keys or b"\0")
        options.trusted_keys = ctypes.cast(key_buffer, ctypes.POINTER(ctypes.c_uint8)) if keys else None
        options.trusted_key_count = len(keys) // 32
        options.max_bundle_bytes = max_bytes
        handle, error = ctypes.c_void_p(), _capi.Error()
        _check(_lib.probex_bundle_open(os.fsencode(path), ctypes.byref(options), ctypes.byref(handle),
                                       ctypes.byref(error)), error)
        self._handle = handle.value
        self.path = os.fsdecode(path)
        try:
            self.trees: tuple[Tree, ...] = tuple(self._tree(i) for i in range(self._count()))
            has_router = ctypes.c_bool()
            _check(_lib.probex_bundle_has_router(self._handle, ctypes.byref(has_router), ctypes.byref(error)), error)
        except BaseException:
            self.close()
            raise
        self.has_router = has_router.value

    def _count(self) -> int:
        count, error = ctypes.c_uint32(), _capi.Error()
        _check(_lib.probex_bundle_tree_count(self._handle, ctypes.byref(count), ctypes.byref(error)), error)
        return count.value

    def _tree(self, i: int) -> Tree:
        info, error = _capi.TreeInfo(), _capi.Error()
        _lib.probex_tree_info_init(ctypes.byref(info), ctypes.sizeof(info))
        _check(_lib.probex_bundle_tree_info(self._handle, i, ctypes.byref(info), ctypes.byref(error)), error)
        name = ctypes.c_char_p()
        labels = []
        for k in range(info.label_count):
            _check(_lib.probex_bundle_label(self._handle, i, k, ctypes.byref(name), ctypes.byref(error)), error)
            labels.append(name.value.decode())
        zero_shot, trained = {}, ctypes.c_bool()
        for k in range(info.zero_shot_label_count):
            _check(_lib.probex_bundle_zero_shot_label(self._handle, i, k, ctypes.byref(name), ctypes.byref(trained),
                                                      ctypes.byref(error)), error)
            zero_shot[name.value.decode()] = trained.value
        return Tree(i, info.name.decode(), _text(info.root), info.layer_name.decode(), info.layer_rule.decode(),
                    (info.d_h, info.d_w), info.r_t, tuple(labels), zero_shot, info.weight_type.decode(),
                    _text(info.text_source), _text(info.reader) or "probex")

    def tree(self, name: str) -> Tree:
        """The tree of that name; ProbexError (status "not_found") if the bundle has none."""
        index, error = ctypes.c_uint32(), _capi.Error()
        _check(_lib.probex_bundle_find_tree(self.handle, name.encode(), ctypes.byref(index), ctypes.byref(error)), error)
        return self.trees[index.value]

    @property
    def handle(self) -> int:
        """The probex_bundle* (ProbexError once closed)."""
        if self._handle is None:
            raise ProbexError._closed("bundle")
        return self._handle

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Frees the bundle, after closing every auditor made from it. Closing twice is harmless."""
        for auditor in list(self._auditors):
            auditor.close()
        if self._handle is not None:
            _lib.probex_bundle_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Bundle":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else ", ".join(t.name for t in self.trees)
        return f"<probex.Bundle {self.path!r}: {state}>"


class Auditor:
    """Audits model files or matrices with a bundle's experts (probex_auditor). One audit at a time: use one
    auditor per thread (the calls release the GIL). A context manager."""

    def __init__(self, bundle: Bundle, *, threads: int = 1, backend: str = "xnnpack", rows_per_block: int = 0,
                 float_only: bool = False, max_model_bytes: int = 0, max_header_bytes: int = 0,
                 max_tensors: int = 0, max_tensor_dims: int = 0, max_lora_rank: int = 0):
        """`threads`: the backend's threads (0 or 1: the calling thread). `backend`: "xnnpack" or "reference".
        The limits refuse model files beyond them (status "limit_exceeded"); 0 keeps the library's default
        (64 GiB files, 100 MB headers, 1,048,576 tensors, 8 dimensions, LoRA rank 1024)."""
        self._handle: Optional[int] = None  # first: __del__ runs even when __init__ raises
        if backend not in _capi.BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(_capi.BACKENDS)}, not {backend!r}")
        options = _capi.AuditorOptions()
        _lib.probex_auditor_options_init(ctypes.byref(options), ctypes.sizeof(options))
        options.backend = _capi.BACKENDS[backend]
        options.threads, options.rows_per_block, options.float_only = threads, rows_per_block, float_only
        options.max_model_bytes, options.max_header_bytes = max_model_bytes, max_header_bytes
        options.max_tensors, options.max_tensor_dims, options.max_lora_rank = max_tensors, max_tensor_dims, max_lora_rank
        handle, error = ctypes.c_void_p(), _capi.Error()
        _check(_lib.probex_auditor_create(bundle.handle, ctypes.byref(options), None, ctypes.byref(handle),
                                          ctypes.byref(error)), error)
        self._handle = handle.value
        self.bundle = bundle  # keeps the bundle alive as long as this auditor
        bundle._auditors.add(self)
        # One result struct and error, reused: an audit allocates nothing in the library (probex.h).
        self._result, self._error = _capi.AuditResult(), _capi.Error()

    def _tree_index(self, tree: Optional[str]) -> int:
        return _capi.PROBEX_ROUTE if tree is None else self.bundle.tree(tree).index

    def _handle_or_raise(self) -> int:
        if self._handle is None:
            raise ProbexError._closed("auditor")
        return self._handle

    def _fresh_result(self) -> _capi.AuditResult:
        _lib.probex_audit_result_init(ctypes.byref(self._result), ctypes.sizeof(self._result))
        return self._result

    def audit(self, path: PathLike, tree: Optional[str] = None) -> AuditResult:
        """Audits the model file or folder at `path` with the expert of `tree`, or (None) of the tree the
        bundle's router finds. A model of no known tree is a result with tree None, not an error."""
        handle, index = self._handle_or_raise(), self._tree_index(tree)
        r = self._fresh_result()
        _check(_lib.probex_audit_file(handle, index, os.fsencode(path), ctypes.byref(r), ctypes.byref(self._error)),
               self._error)
        return self._convert(r, os.fsdecode(path))

    def route(self, path: PathLike) -> AuditResult:
        """Only the router's decision for a model file (no expert runs): tree, distances, margin, reason.
        ProbexError ("invalid_argument") if the bundle has no router."""
        handle = self._handle_or_raise()
        r = self._fresh_result()
        _check(_lib.probex_route_file(handle, os.fsencode(path), ctypes.byref(r), ctypes.byref(self._error)),
               self._error)
        return self._convert(r, os.fsdecode(path))

    def audit_matrix(self, x: np.ndarray, tree: str) -> AuditResult:
        """Audits a layer already in memory: a 2-D array [d_h, d_w] after the tree's shaping rule. A
        C-contiguous float32 array is read in place (no copy); anything else is converted first. A matrix
        is never routed: `tree` names the expert."""
        handle, index = self._handle_or_raise(), self._tree_index(tree)
        x = np.ascontiguousarray(x, dtype=np.float32)  # the same array when it already is
        if x.ndim != 2:
            raise ValueError(f"audit_matrix needs a 2-D array, not {x.ndim}-D")
        r = self._fresh_result()
        _check(_lib.probex_audit_matrix(handle, index, x.ctypes.data, x.shape[0], x.shape[1], ctypes.byref(r),
                                        ctypes.byref(self._error)), self._error)
        return self._convert(r, None)

    def audit_record(self, path: PathLike, tree: Optional[str] = None) -> str:
        """Audits `path` and returns its record of the JSON result schema (docs/audit-json.md), the line
        probex-audit --json prints (without --truth), failures included: it never raises for the model."""
        handle, index = self._handle_or_raise(), self._tree_index(tree)
        r = self._fresh_result()
        encoded = os.fsencode(path)
        status = _lib.probex_audit_file(handle, index, encoded, ctypes.byref(r), ctypes.byref(self._error))
        length, error = ctypes.c_size_t(), _capi.Error()
        buffer = ctypes.create_string_buffer(8192)
        for _ in range(2):  # a record longer than the buffer: once more with its length
            _check(_lib.probex_audit_json(self.bundle.handle, encoded, status, ctypes.byref(self._error),
                                          ctypes.byref(r), buffer, len(buffer), ctypes.byref(length),
                                          ctypes.byref(error)), error)
            if length.value < len(buffer):
                return buffer.value.decode()
            buffer = ctypes.create_string_buffer(length.value + 1)
        raise AssertionError("probex_audit_json: the record's length changed between two calls")

    def self_test(self) -> float:
        """Runs the bundle's stored self-tests; the largest relative difference seen. ProbexError
        ("self_test_failed") if this machine does not compute what the converter did."""
        worst, error = ctypes.c_double(), _capi.Error()
        _check(_lib.probex_auditor_self_test(self._handle_or_raise(), ctypes.byref(worst), ctypes.byref(error)), error)
        return worst.value

    def _convert(self, r: _capi.AuditResult, model: Optional[str]) -> AuditResult:
        trees = self.bundle.trees
        tree = trees[r.tree] if r.tree != _capi.PROBEX_NO_TREE and r.tree < len(trees) else None
        probabilities = _floats(r.probabilities, r.label_count)
        labels = dict(zip(tree.labels, probabilities.tolist())) if tree else {}
        predicted = frozenset(name for k, name in enumerate(labels) if r.predicted[k])
        zero_shot: dict[str, float] = {}
        if tree and r.zero_shot_count:
            scores = _floats(r.zero_shot_scores, r.zero_shot_count).tolist()
            texts = list(tree.zero_shot_labels)
            # Best first, ties in the bundle's order (as the JSON record ranks them).
            for k in sorted(range(len(scores)), key=lambda k: -scores[k]):
                zero_shot[texts[k]] = scores[k]
        distances = {}
        if r.routed:
            for k, d in enumerate(_floats(r.root_distances, r.root_distance_count).tolist()):
                if not math.isnan(d) and k < len(trees):
                    distances[trees[k].name] = d

        def finite(v: float) -> Optional[float]:
            return v if r.routed and math.isfinite(v) else None

        return AuditResult(
            model=model, format=_text(r.model_format), declared_base_model=_text(r.declared_base_model),
            tree=tree.name if tree else None,
            unknown_reason=None if tree else (_text(r.unknown_reason) or None),
            labels=labels, predicted=predicted, logits=_floats(r.logits, r.label_count), zero_shot=zero_shot,
            embedding=_floats(r.embedding, r.embedding_size), routed=bool(r.routed),
            route_distance=finite(r.route_distance), route_accept=finite(r.route_accept),
            route_margin=finite(r.route_margin), route_outcome=_ROUTE_OUTCOMES.get(r.route_outcome) if r.routed else None,
            route_band=(r.route_band_low, r.route_band_high)
            if finite(r.route_band_low) is not None and finite(r.route_band_high) is not None else None,
            layer_rounding=finite(r.layer_rounding), distances=distances,
            seconds=Timings(r.seconds_open, r.seconds_read, r.seconds_route, r.seconds_probe, r.seconds_rest,
                            r.seconds_zero_shot))

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Frees the auditor. Closing twice is harmless."""
        if self._handle is not None:
            _lib.probex_auditor_free(self._handle)
            self._handle = None

    def __enter__(self) -> "Auditor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()
