"""``demo.npz``: the record of one demo run (what the figures are drawn from). One schema.

Arrays with a time axis ``T`` (one row per 10-ms arm step = one 1-ms network step):
``target_omega`` / ``omega_before`` / ``omega_after`` (T, 2) rad/s, ``target_xyz`` /
``xyz_before`` / ``xyz_after`` (T, 3) m, ``spikes_before`` / ``spikes_after`` (T, 250) {0, 1},
``learning_signals`` (T, n), optional ``generator_spikes`` (T, 800). Per trainee matrix ``m`` in
:data:`MATRICES`: ``g_before.m`` / ``g_after.m`` signed conductances (uS) and ``written.m``
(bool), of the matrix's shape. ``meta``: a JSON object (rule, K, seed, deployment with device
age and drift compensation, tracking errors, devices written).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from robo_l2l.atomic import atomic_write_bytes
from robo_l2l.controller import N_OUT
from robo_l2l.network import N_GENERATOR, N_TRAINEE
from robo_l2l.tasks import N_CLOCK

MATRICES = ("w_in", "w_rec", "w_out")
MATRIX_SHAPES = {
    "w_in": (N_CLOCK, N_TRAINEE),
    "w_rec": (N_TRAINEE, N_TRAINEE),
    "w_out": (N_TRAINEE, N_OUT),
}
#: arrays with a time axis, and their widths (None: any)
TIME_ARRAYS = {
    "target_omega": 2,
    "target_xyz": 3,
    "omega_before": 2,
    "omega_after": 2,
    "xyz_before": 3,
    "xyz_after": 3,
    "spikes_before": N_TRAINEE,
    "spikes_after": N_TRAINEE,
    "learning_signals": None,
}
OPTIONAL_TIME_ARRAYS = {"generator_spikes": N_GENERATOR}
MATRIX_KEYS = tuple(f"{kind}.{m}" for m in MATRICES for kind in ("g_before", "g_after", "written"))
#: what ``meta`` must state
META_KEYS = ("rule", "k_updates", "seed", "deployment", "t_inference_s", "drift_compensation")
FILE = "demo.npz"


class DemoRecordError(ValueError):
    """A demo record that is missing, unreadable or does not follow the schema."""


def validate(record: Mapping[str, Any], name: str = FILE) -> None:
    """Raise :class:`DemoRecordError` naming the first key of the wrong shape or missing."""
    missing = [k for k in (*TIME_ARRAYS, *MATRIX_KEYS, "meta") if k not in record]
    if missing:
        raise DemoRecordError(f"{name} lacks key(s) {', '.join(missing)}")
    lengths = {}
    for key, width in {**TIME_ARRAYS, **OPTIONAL_TIME_ARRAYS}.items():
        if key not in record:
            continue
        a = np.asarray(record[key])
        if a.ndim != 2 or (width is not None and a.shape[1] != width):
            want = f"(T, {width})" if width else "(T, n)"
            raise DemoRecordError(f"{name}: {key} has shape {a.shape}, expected {want}")
        lengths[key] = len(a)
    if len(set(lengths.values())) != 1:
        raise DemoRecordError(f"{name}: arrays differ in length T: {lengths}")
    for m, shape in MATRIX_SHAPES.items():
        for kind in ("g_before", "g_after", "written"):
            got = np.shape(record[f"{kind}.{m}"])
            if got != shape:
                raise DemoRecordError(f"{name}: {kind}.{m} has shape {got}, expected {shape}")
    meta = record["meta"]
    if not isinstance(meta, Mapping):
        raise DemoRecordError(f"{name}: meta is not a JSON object")
    lacking = [k for k in META_KEYS if k not in meta]
    if lacking:
        raise DemoRecordError(f"{name}: meta lacks {', '.join(lacking)}")


def to_bytes(record: Mapping[str, Any]) -> bytes:
    """The record as compressed ``.npz`` bytes (``meta`` stored as a JSON string)."""
    validate(record)
    arrays = {k: np.asarray(v) for k, v in record.items() if k != "meta"}
    arrays["meta"] = np.array(json.dumps(record["meta"]))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def write(path: str | os.PathLike, record: Mapping[str, Any]) -> Path:
    """Validate ``record`` and write it atomically to ``path``."""
    return atomic_write_bytes(path, to_bytes(record))


def read(path: str | os.PathLike) -> dict[str, Any]:
    """The arrays of a ``demo.npz`` and its parsed ``meta``, validated."""
    path = Path(path)
    if not path.is_file():
        raise DemoRecordError(f"{path} not found: run scripts/demo.py first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DemoRecordError(f"{path} is not a readable .npz ({exc})") from exc
    if "meta" in data:
        try:
            meta = json.loads(str(data["meta"]))
        except ValueError as exc:
            raise DemoRecordError(f"{path}: meta is not a JSON string ({exc})") from exc
        data["meta"] = meta
    validate(data, str(path))
    return data
