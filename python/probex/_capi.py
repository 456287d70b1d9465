"""ctypes mirror of the C API, runtime/include/probex/probex.h: the library, its structs and prototypes.

Nothing of the runtime is reimplemented here: every audit, check and record is the shared library's.
The structs mirror the header field by field (order and C types; `bool` is C99 bool = c_bool); the sized
ones are initialised by the library's *_init with ctypes.sizeof of these definitions, so a newer library
(a larger struct) serves this module unchanged (runtime/include/probex/ABI.md).
"""
from __future__ import annotations

import ctypes
import os
from ctypes import (POINTER, Structure, c_bool, c_char, c_char_p, c_double, c_float, c_int, c_size_t, c_uint8,
                    c_uint32, c_uint64, c_void_p)
from pathlib import Path

# The C API major version this module was written against: the SONAME's number (libprobex.so.1).
EXPECTED_MAJOR = 1
LIBRARY_NAME = f"libprobex.so.{EXPECTED_MAJOR}"

PROBEX_OK = 0
PROBEX_INVALID_ARGUMENT = 1
PROBEX_NOT_A_MODEL = 20
PROBEX_NOT_FOUND = 21
PROBEX_ROUTE = 0xFFFFFFFF
PROBEX_NO_TREE = 0xFFFFFFFF
BACKENDS = {"xnnpack": 0, "reference": 1}


class Error(Structure):  # probex_error (frozen)
    _fields_ = [("status", c_int), ("message", c_char * 512)]


class BundleOptions(Structure):  # probex_bundle_options
    _fields_ = [("struct_size", c_uint32), ("trusted_keys", POINTER(c_uint8)), ("trusted_key_count", c_size_t),
                ("max_bundle_bytes", c_uint64)]


class TreeInfo(Structure):  # probex_tree_info
    _fields_ = [("struct_size", c_uint32), ("name", c_char_p), ("root", c_char_p), ("layer_name", c_char_p),
                ("layer_rule", c_char_p), ("d_h", c_uint32), ("d_w", c_uint32), ("r_u", c_uint32), ("r_v", c_uint32),
                ("r_t", c_uint32), ("label_count", c_uint32), ("weight_type", c_char_p),
                ("self_test_count", c_uint32), ("zero_shot_label_count", c_uint32), ("text_source", c_char_p),
                ("reader", c_char_p), ("view_count", c_uint32)]  # 1.2


class AuditorOptions(Structure):  # probex_auditor_options
    _fields_ = [("struct_size", c_uint32), ("backend", c_int), ("threads", c_uint32), ("rows_per_block", c_uint32),
                ("float_only", c_bool), ("max_model_bytes", c_uint64), ("max_header_bytes", c_uint64),
                ("max_tensors", c_uint32), ("max_tensor_dims", c_uint32), ("max_lora_rank", c_uint32)]


class AuditResult(Structure):  # probex_audit_result (1.1: seconds_open; 1.3: the routing verdict)
    _fields_ = [("struct_size", c_uint32), ("tree", c_uint32), ("label_count", c_uint32),
                ("logits", POINTER(c_float)), ("probabilities", POINTER(c_float)), ("predicted", POINTER(c_bool)),
                ("embedding_size", c_uint32), ("embedding", POINTER(c_float)),
                ("seconds_read", c_double), ("seconds_probe", c_double), ("seconds_rest", c_double),
                ("routed", c_bool), ("root_distance_count", c_uint32), ("root_distances", POINTER(c_float)),
                ("route_distance", c_float), ("route_accept", c_float), ("route_margin", c_float),
                ("unknown_reason", c_char_p), ("seconds_route", c_double),
                ("zero_shot_count", c_uint32), ("zero_shot_scores", POINTER(c_float)), ("seconds_zero_shot", c_double),
                ("model_format", c_char_p), ("declared_base_model", c_char_p),
                ("seconds_open", c_double),
                ("route_outcome", c_int), ("route_band_low", c_float), ("route_band_high", c_float),  # 1.3
                ("layer_rounding", c_float)]


def _candidates() -> list[str]:
    """Where the library may be, in order of preference."""
    here = Path(__file__).resolve().parent
    out = []
    if os.environ.get("PROBEX_LIBRARY"):  # an explicit choice wins
        return [os.environ["PROBEX_LIBRARY"]]
    try:  # written by `cmake --install`: the installed library, relative to this package
        from . import _installed  # type: ignore[attr-defined]
        out.append(str((here / _installed.LIBRARY).resolve()))
    except ImportError:
        pass
    # A source checkout (PYTHONPATH=python): the library of the preset `shared`.
    out.append(str(here.parent.parent / "build" / "shared" / "runtime" / LIBRARY_NAME))
    out.append(LIBRARY_NAME)  # the dynamic loader's search (LD_LIBRARY_PATH, ld.so.cache)
    return out


def _load() -> ctypes.CDLL:
    tried = []
    for candidate in _candidates():
        if os.sep in candidate and not os.path.exists(candidate):
            tried.append(f"{candidate} (no such file)")
            continue
        try:
            lib = ctypes.CDLL(candidate)  # CDLL: calls release the GIL
            break
        except OSError as e:
            tried.append(f"{candidate} ({e})")
    else:
        raise ImportError("probex: cannot load the probex library; tried: " + "; ".join(tried) +
                          ". Set PROBEX_LIBRARY to the path of libprobex.so.1.")
    lib.probex_version.restype = c_char_p
    version = lib.probex_version().decode()
    if int(version.split(".")[0]) != EXPECTED_MAJOR:
        raise ImportError(f"probex: {lib._name} is version {version}; this module needs major version {EXPECTED_MAJOR}")
    return lib


lib = _load()
PATH = lib._name

_status = c_int
_err = POINTER(Error)
_prototypes = {
    "probex_status_name": (c_char_p, [_status]),
    "probex_bundle_options_init": (_status, [POINTER(BundleOptions), c_size_t]),
    "probex_bundle_open": (_status, [c_char_p, POINTER(BundleOptions), POINTER(c_void_p), _err]),
    "probex_bundle_free": (None, [c_void_p]),
    "probex_bundle_signer": (_status, [c_void_p, POINTER(c_bool), POINTER(c_uint8), POINTER(c_uint8), _err]),
    "probex_tree_info_init": (_status, [POINTER(TreeInfo), c_size_t]),
    "probex_bundle_tree_count": (_status, [c_void_p, POINTER(c_uint32), _err]),
    "probex_bundle_tree_info": (_status, [c_void_p, c_uint32, POINTER(TreeInfo), _err]),
    "probex_bundle_find_tree": (_status, [c_void_p, c_char_p, POINTER(c_uint32), _err]),
    "probex_bundle_label": (_status, [c_void_p, c_uint32, c_uint32, POINTER(c_char_p), _err]),
    "probex_bundle_zero_shot_label": (_status, [c_void_p, c_uint32, c_uint32, POINTER(c_char_p), POINTER(c_bool), _err]),
    "probex_bundle_has_router": (_status, [c_void_p, POINTER(c_bool), _err]),
    "probex_auditor_options_init": (_status, [POINTER(AuditorOptions), c_size_t]),
    "probex_auditor_create": (_status, [c_void_p, POINTER(AuditorOptions), c_void_p, POINTER(c_void_p), _err]),
    "probex_auditor_free": (None, [c_void_p]),
    "probex_audit_result_init": (_status, [POINTER(AuditResult), c_size_t]),
    "probex_model_format": (_status, [c_char_p, POINTER(c_char_p), _err]),
    "probex_audit_file": (_status, [c_void_p, c_uint32, c_char_p, POINTER(AuditResult), _err]),
    "probex_route_file": (_status, [c_void_p, c_char_p, POINTER(AuditResult), _err]),
    "probex_audit_matrix": (_status, [c_void_p, c_uint32, c_void_p, c_uint32, c_uint32, POINTER(AuditResult), _err]),
    "probex_audit_json": (_status, [c_void_p, c_char_p, _status, _err, POINTER(AuditResult), c_char_p, c_size_t,
                                    POINTER(c_size_t), _err]),
    "probex_auditor_self_test": (_status, [c_void_p, POINTER(c_double), _err]),
}
for _name, (_restype, _argtypes) in _prototypes.items():
    _function = getattr(lib, _name)
    _function.restype = _restype
    _function.argtypes = _argtypes
