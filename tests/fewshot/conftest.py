"""Fixtures of the few-shot tests: the shipped Omniglot archives and the reference files
(skipped when ../shared is absent)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from robo_l2l.fewshot.omniglot import merge_omniglot, read_omniglot
from robo_l2l.fewshot.preprocess import preprocess

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
OMNIGLOT_DIR = Path(os.environ.get("ROBO_L2L_OMNIGLOT", SHARED / "data" / "omniglot")).resolve()
REFERENCE_DIR = Path(os.environ.get("ROBO_L2L_REFERENCE", SHARED / "reference")).resolve()
SMALL = ("images_background_small1.zip", "images_background_small2.zip")
CLASSIFIER_CHECKPOINT = REFERENCE_DIR / "fewshot_checkpoint.pickle"
#: Every golden fixture of this kind found beside the first one (a correct model passes all).
GOLDEN_FEWSHOT = sorted(REFERENCE_DIR.glob("golden_fewshot*.npz")) or [
    REFERENCE_DIR / "golden_fewshot.npz"
]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(
            f"{path.name} not found in {path.parent} (../shared is absent; set "
            "ROBO_L2L_OMNIGLOT / ROBO_L2L_REFERENCE to the folders holding it)"
        )
    return path


@pytest.fixture(scope="session")
def small_zips() -> tuple[Path, Path]:
    return tuple(need(OMNIGLOT_DIR / name) for name in SMALL)


@pytest.fixture(scope="session")
def small_raw(small_zips):
    """Both small archives as read (small1, small2)."""
    return tuple(read_omniglot(z) for z in small_zips)


@pytest.fixture(scope="session")
def merged(small_raw):
    return merge_omniglot(*small_raw)


@pytest.fixture(scope="session")
def merged_images(merged) -> np.ndarray:
    return preprocess(merged.raw)


@pytest.fixture(scope="session", params=GOLDEN_FEWSHOT, ids=lambda p: p.name)
def golden_fewshot(request) -> dict:
    return dict(np.load(need(request.param)))


@pytest.fixture(scope="session")
def classifier_arrays():
    from robo_l2l.fewshot.checkpoint import load_reference_classifier

    return load_reference_classifier(need(CLASSIFIER_CHECKPOINT))


def episodes_of(golden: dict, dtype=torch.float64):
    """The fixture's preprocessed episodes as the model takes them (channel axis dropped)."""
    from robo_l2l.fewshot.maml import Episodes

    return Episodes(
        torch.as_tensor(golden["support_images"][..., 0]).to(dtype),
        torch.as_tensor(golden["support_labels"]),
        torch.as_tensor(golden["query_images"][..., 0]).to(dtype),
        torch.as_tensor(golden["query_labels"]),
    )
