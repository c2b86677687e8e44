"""The authors' few-shot classifier checkpoint (a pickled list of TensorFlow variables).

Read without TensorFlow through the allow-list unpickler of
:mod:`robo_l2l.reference_checkpoint` (the robot checkpoint's loader): the file is a list of five
``functools.partial(ResourceVariable, initial_value=..., name=...)`` entries, kernels in the
reference layout (kh, kw, c_in, c_out) and the readout (56, 5) (FEWSHOT.md section 7).
"""

from __future__ import annotations

import os

import numpy as np

from robo_l2l.reference_checkpoint import (
    CheckpointError,
    checked_array,
    unpickle_reference,
    variable_name,
)

#: Names and shapes in file order (reference layout, HWIO kernels), FEWSHOT.md section 7.
CLASSIFIER_SHAPES: dict[str, tuple[int, ...]] = {
    "kernel1": (3, 3, 1, 56),
    "kernel2": (3, 3, 56, 56),
    "kernel3": (3, 3, 56, 56),
    "kernel4": (3, 3, 56, 56),
    "readout": (56, 5),
}
#: The checkpoint file names its readout variable ``kernel5``.
_FILE_NAMES = ("kernel1", "kernel2", "kernel3", "kernel4", "kernel5")


def load_reference_classifier(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the authors' CNN checkpoint into float32 arrays in the reference layout.

    Args:
        path: ``pretrained-weights.pickle`` of the authors' few-shot code.

    Returns:
        ``{name: array}`` with the keys and shapes of :data:`CLASSIFIER_SHAPES`.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: corrupt file, a global outside the allow-list, the robot-arm checkpoint
            (a dict of its six matrices), wrong count, names, shapes or dtypes, non-finite values.
    """
    raw = unpickle_reference(path)
    if isinstance(raw, dict):
        raise CheckpointError(
            f"{path} holds a dict with keys {sorted(raw)[:6]}: it looks like the robot-arm "
            "controller checkpoint, not the authors' few-shot classifier (a list of 5 variables)"
        )
    if not isinstance(raw, list) or len(raw) != len(CLASSIFIER_SHAPES):
        raise CheckpointError(
            f"{path}: expected a list of {len(CLASSIFIER_SHAPES)} classifier variables, got "
            f"{type(raw).__name__} of length {len(raw) if isinstance(raw, list) else '-'}"
        )
    out: dict[str, np.ndarray] = {}
    for entry, file_name, (key, shape) in zip(
        raw, _FILE_NAMES, CLASSIFIER_SHAPES.items(), strict=True
    ):
        name = variable_name(entry)
        if name is not None and name != file_name:
            raise CheckpointError(f"{path}: variable {len(out)} is named {name!r}, not {file_name}")
        out[key] = checked_array(key, entry, shape)
    return out
