"""Shared fixtures: the reference files in ../shared/reference (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REFERENCE_DIR = Path(
    os.environ.get(
        "ROBO_L2L_REFERENCE", Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
    )
).resolve()
CHECKPOINT = REFERENCE_DIR / "rapid_learning_robot_checkpoint.pickle"


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"reference file {path.name} not found in {REFERENCE_DIR} "
            "(../shared/reference is absent; set ROBO_L2L_REFERENCE to its folder)"
        )
    return path


@pytest.fixture(scope="session")
def reference_weights():
    from robo_l2l.controller import controller_from_reference

    return controller_from_reference(_need(CHECKPOINT))


@pytest.fixture(
    scope="session", params=["golden_inner_loop.npz", "golden_inner_loop_quantized.npz"]
)
def golden(request):
    return dict(np.load(_need(REFERENCE_DIR / request.param)))


@pytest.fixture(scope="session")
def golden_plain():
    return dict(np.load(_need(REFERENCE_DIR / "golden_inner_loop.npz")))
