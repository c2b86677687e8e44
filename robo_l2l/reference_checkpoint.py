"""Safe loader for the authors' published checkpoint (a pickle of TensorFlow variables).

The file is a pickled ``dict`` whose values are ``functools.partial(ResourceVariable, ...)``
objects carrying ``initial_value`` float32 arrays. It is read without TensorFlow and without
running arbitrary pickle globals: :class:`_AllowListUnpickler` maps the handful of globals that
the file needs to inert stubs and refuses every other one.
"""

from __future__ import annotations

import io
import os
import pickle
from typing import Any

import numpy as np

#: Expected keys and shapes (Ortner et al. 2025, robot-arm checkpoint).
CHECKPOINT_SHAPES: dict[str, tuple[int, int]] = {
    "W_in_lsg": (53, 800),
    "W_rec_lsg": (800, 800),
    "W_out_lsg": (800, 250),
    "W_in_trainee": (5, 250),
    "W_rec_trainee": (250, 250),
    "W_out_trainee": (250, 2),
}


class CheckpointError(ValueError):
    """The file is not a well-formed reference checkpoint."""


class _PartialStub:
    """Stand-in for ``functools.partial``: only records what the pickle stores."""

    def __init__(self, func: Any = None, *args: Any) -> None:
        self.func, self.args, self.keywords = func, args, {}

    def __setstate__(self, state: tuple) -> None:
        if not (isinstance(state, tuple) and len(state) == 4):
            raise CheckpointError("malformed functools.partial state in checkpoint")
        self.func, self.args, keywords, _ = state
        self.keywords = dict(keywords or {})

    def __call__(self, *args: Any, **keywords: Any) -> Any:
        if self.func is not _ResourceVariableStub:
            raise CheckpointError("checkpoint calls a partial of something other than a variable")
        return _ResourceVariableStub(*self.args, *args, **{**self.keywords, **keywords})


class _ResourceVariableStub:
    """Stand-in for ``tensorflow...ResourceVariable``: keeps the constructor's keywords."""

    def __init__(self, *args: Any, **keywords: Any) -> None:
        self.keywords = keywords


def _frombuffer(buffer: bytes | bytearray, dtype: Any, shape: tuple, order: str) -> np.ndarray:
    """Safe re-implementation of numpy's pickle helper: copy bytes into a new array."""
    dtype = np.dtype(dtype)
    if not isinstance(buffer, (bytes, bytearray)):
        raise CheckpointError("array payload is not a byte buffer")
    count = int(np.prod(shape)) if len(shape) else 1
    if len(buffer) != count * dtype.itemsize:
        raise CheckpointError(
            f"array payload has {len(buffer)} bytes, expected {count * dtype.itemsize} for "
            f"shape {tuple(shape)} of {dtype}"
        )
    return np.frombuffer(bytes(buffer), dtype=dtype).reshape(shape, order=order).copy()


def _as_dtype(name: Any) -> str:
    return str(name)


def _reconstruct(cls: Any, shape: Any, dtype_code: Any) -> np.ndarray:
    """Safe stand-in for numpy's ``_reconstruct``: only a plain ndarray shell, filled by its
    ``__setstate__`` from the pickled bytes (object arrays are refused after loading)."""
    if cls is not np.ndarray:
        raise CheckpointError("checkpoint reconstructs an array subclass; refusing it")
    return np.ndarray((0,), dtype=np.uint8)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("functools", "partial"): _PartialStub,
    ("tensorflow.python.ops.resource_variable_ops", "ResourceVariable"): _ResourceVariableStub,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("tensorflow.python.framework.dtypes", "as_dtype"): _as_dtype,
}


class _AllowListUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise CheckpointError(
                f"checkpoint refers to the global {module}.{name}, which is not on the allow-list "
                "of the reference-checkpoint loader; refusing to unpickle it"
            ) from None


def unpickle_reference(path: str | os.PathLike) -> Any:
    """Unpickle one of the authors' checkpoints with the allow-list (variables become stubs).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated or corrupt bytes, or a global outside the allow-list.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        return _AllowListUnpickler(io.BytesIO(data)).load()
    except CheckpointError:
        raise
    except Exception as exc:  # truncated or garbled bytes surface as many exception types
        raise CheckpointError(f"cannot read reference checkpoint {path}: {exc!r}") from exc


def variable_value(entry: Any) -> Any:
    """The ``initial_value`` of a stubbed TensorFlow variable (anything else unchanged)."""
    if isinstance(entry, (_PartialStub, _ResourceVariableStub)):
        return entry.keywords.get("initial_value")
    return entry


def variable_name(entry: Any) -> str | None:
    """The ``name`` keyword of a stubbed TensorFlow variable, if any."""
    if isinstance(entry, (_PartialStub, _ResourceVariableStub)):
        name = entry.keywords.get("name")
        return name if isinstance(name, str) else None
    return None


def load_reference_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the authors' robot-arm checkpoint into float32 arrays.

    Args:
        path: ``rapid_learning_robot_checkpoint.pickle``.

    Returns:
        ``{name: array}`` with exactly the keys and shapes of :data:`CHECKPOINT_SHAPES`.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated or corrupt file, a global outside the allow-list,
            unexpected keys, shapes or dtypes, or non-finite values.
    """
    raw = unpickle_reference(path)
    if isinstance(raw, list):
        raise CheckpointError(
            f"{path} holds a list of {len(raw)} variables: it looks like the authors' few-shot "
            "classifier checkpoint, not the robot-arm controller (use "
            "robo_l2l.fewshot.checkpoint.load_reference_classifier)"
        )
    if not isinstance(raw, dict):
        raise CheckpointError(f"checkpoint holds a {type(raw).__name__}, expected a dict")
    missing = set(CHECKPOINT_SHAPES) - set(raw)
    extra = set(raw) - set(CHECKPOINT_SHAPES)
    if missing or extra:
        raise CheckpointError(
            f"checkpoint keys differ: missing {sorted(missing)}, unexpected {sorted(extra)}"
        )
    return {key: checked_array(key, raw[key], shape) for key, shape in CHECKPOINT_SHAPES.items()}


def checked_array(key: str, entry: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 array of one checkpoint variable, of ``shape``, finite; else CheckpointError."""
    value = variable_value(entry)
    if not isinstance(value, np.ndarray):
        raise CheckpointError(f"{key}: no initial_value array in checkpoint entry")
    if value.shape != shape or value.dtype != np.float32:
        raise CheckpointError(f"{key}: expected float32 {shape}, got {value.dtype} {value.shape}")
    if not np.isfinite(value).all():
        raise CheckpointError(f"{key}: contains NaN or inf")
    return np.ascontiguousarray(value)
