"""Reference files of the few-shot system (skipped when ../shared/reference is absent)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import REFERENCE_DIR, _need

CLASSIFIER_CHECKPOINT = REFERENCE_DIR / "fewshot_checkpoint.pickle"
GOLDEN_FEWSHOT = sorted(REFERENCE_DIR.glob("golden_fewshot*.npz")) or [
    REFERENCE_DIR / "golden_fewshot.npz"
]


@pytest.fixture(scope="session")
def classifier_arrays():
    from robo_l2l.fewshot.checkpoint import load_reference_classifier

    return load_reference_classifier(_need(CLASSIFIER_CHECKPOINT))


@pytest.fixture(scope="session", params=GOLDEN_FEWSHOT, ids=lambda p: p.name)
def golden_fewshot(request):
    return dict(np.load(_need(request.param)))


def episodes_of(golden: dict, dtype=torch.float64):
    """The fixture's preprocessed episodes as the model takes them (channel axis dropped)."""
    from robo_l2l.fewshot.maml import Episodes

    return Episodes(
        torch.as_tensor(golden["support_images"][..., 0]).to(dtype),
        torch.as_tensor(golden["support_labels"]),
        torch.as_tensor(golden["query_images"][..., 0]).to(dtype),
        torch.as_tensor(golden["query_labels"]),
    )
