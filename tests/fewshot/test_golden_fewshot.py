"""The reference CNN + MAML against the authors' golden fixture (FEWSHOT.md section 10).

Ideal mode, computed in float64. Tolerances are those an independent float64 transcription
achieves against the authors' float32 TensorFlow run: features 5e-4 absolute, logits 1e-4,
readouts 4e-6, losses 1e-4; accuracies exact. Features and block activations also get a relative
term of 1e-4 (numpy's ``atol + rtol * |ref|``): TF's float32 error grows with the value (the
largest deviation is 5.4e-4 at a feature of 1.51). Quantities without a stated tolerance:
inner gradients 4e-5 (the readout tolerance over the learning rate 0.1), meta-gradients 2e-4 in
relative norm (the float64 transcription's figure).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robo_l2l.fewshot import cnn, maml
from tests.fewshot.conftest import episodes_of

FEATURES, LOGITS, READOUT, LOSS = 5e-4, 1e-4, 4e-6, 1e-4
FEATURES_RTOL = 1e-4
GRAD = READOUT / 0.1
META_GRAD_REL = 2e-4


@pytest.fixture(scope="module")
def params64(classifier_arrays):
    return cnn.params_from_reference(classifier_arrays, torch.float64)


def _close(actual, expected, atol, rtol=0.0, name=""):
    np.testing.assert_allclose(np.asarray(actual), expected, atol=atol, rtol=rtol, err_msg=name)


def _counts(acc, n):
    return np.rint(np.asarray(acc, dtype=np.float64) * n).astype(int)


def test_fixture_readout_is_checkpoint(golden_fewshot, classifier_arrays):
    np.testing.assert_array_equal(golden_fewshot["readout_init"], classifier_arrays["readout"])


def test_block_activations_episode0(golden_fewshot, params64):
    ep = episodes_of(golden_fewshot)
    acts: list[torch.Tensor] = []
    cnn.features(ep.support_images[:1], [params64[k] for k in cnn.KERNELS], activations=acts)
    for i, act in enumerate(acts, start=1):
        ref = golden_fewshot[f"support_act{i}_ep0"]
        got = act[0].permute(0, 2, 3, 1).numpy()  # (n, H, W, C) as the reference
        _close(got, ref, FEATURES, FEATURES_RTOL, f"block {i}")


def _per_task_results(golden, params):
    ep = episodes_of(golden)
    return [
        maml.inner_loop(params, maml.Episodes(*(x[b : b + 1] for x in ep)))
        for b in range(ep.support_images.shape[0])
    ]


def test_inner_loop_per_task(golden_fewshot, params64):
    """README protocol: each episode its own meta-batch of 1 (per-task batch statistics)."""
    g = golden_fewshot
    res = _per_task_results(g, params64)

    def cat(field, axis):
        return torch.cat([getattr(r, field) for r in res], axis).numpy()

    _close(cat("support_features", 0), g["support_features"], FEATURES, FEATURES_RTOL, "sfeat")
    _close(cat("query_features", 0), g["query_features"], FEATURES, FEATURES_RTOL, "qfeat")
    _close(cat("readouts", 1), g["readout"], READOUT, name="readout")
    _close(cat("inner_grads", 1), g["inner_grads"], GRAD, name="inner_grads")
    _close(cat("support_logits", 1), g["support_logits"], LOGITS, name="support_logits")
    _close(cat("query_logits", 1), g["query_logits"], LOGITS, name="query_logits")
    _close(cat("support_losses", 1), g["support_loss"], LOSS, name="support_loss")
    _close(cat("query_losses", 1), g["query_loss"], LOSS, name="query_loss")
    s, q = g["support_labels"].shape[1], g["query_labels"].shape[1]
    np.testing.assert_array_equal(_counts(cat("support_accs", 1), s), _counts(g["support_acc"], s))
    np.testing.assert_array_equal(_counts(cat("query_accs", 1), q), _counts(g["query_acc"], q))


@pytest.fixture(scope="module")
def pooled(golden_fewshot, params64):
    params = {k: v.clone().requires_grad_(True) for k, v in params64.items()}
    ep = episodes_of(golden_fewshot)
    second = maml.inner_loop(params, ep)
    g2 = torch.autograd.grad(second.query_loss, [params[k] for k in cnn.PARAM_NAMES])
    first = maml.inner_loop(params, ep, maml.InnerLoopConfig(second_order=False))
    g1 = torch.autograd.grad(first.query_loss, [params[k] for k in cnn.PARAM_NAMES])
    return (
        second,
        dict(zip(cnn.PARAM_NAMES, g2, strict=True)),
        first,
        dict(zip(cnn.PARAM_NAMES, g1, strict=True)),
    )


def test_inner_loop_pooled(golden_fewshot, pooled):
    """The 4 episodes as one meta-batch: batch statistics pooled over the tasks."""
    g, r = golden_fewshot, pooled[0]
    _close(r.support_features, g["support_features_pooled"], FEATURES, FEATURES_RTOL, "sfeat")
    _close(r.query_features, g["query_features_pooled"], FEATURES, FEATURES_RTOL, "qfeat")
    _close(r.readouts, g["readout_pooled"], READOUT, name="readout_pooled")
    _close(r.inner_grads, g["inner_grads_pooled"], GRAD, name="inner_grads_pooled")
    _close(r.query_logits, g["query_logits_pooled"], LOGITS, name="query_logits_pooled")
    _close(r.query_losses, g["query_loss_pooled"], LOSS, name="query_loss_pooled")
    _close(r.support_losses, g["support_loss_pooled"], LOSS, name="support_loss_pooled")
    q = g["query_labels"].shape[1]
    np.testing.assert_array_equal(_counts(r.query_accs, q), _counts(g["query_acc_pooled"], q))


@pytest.mark.parametrize("order", ["second", "first"])
def test_meta_gradients(golden_fewshot, pooled, order):
    g = golden_fewshot
    result, grads = (pooled[0], pooled[1]) if order == "second" else (pooled[2], pooled[3])
    prefix = "meta_grad_" if order == "second" else "meta_grad_first_order_"
    loss_key = "meta_loss" if order == "second" else "meta_loss_first_order"
    _close(result.query_loss.item(), g[loss_key], LOSS, name=loss_key)
    q_total = g["query_labels"].size
    assert round(result.query_acc.item() * q_total) == round(float(g["meta_acc"]) * q_total)
    ours = cnn.params_to_reference(grads, dtype=np.float64)
    for name in cnn.PARAM_NAMES:
        ref = g[prefix + name].astype(np.float64)
        rel = np.linalg.norm(ours[name] - ref) / np.linalg.norm(ref)
        assert rel < META_GRAD_REL, f"{prefix}{name}: relative error {rel:.2e}"


def test_second_order_differs_from_first(pooled):
    """The fixture's two versions differ by far more than the tolerance: the test can tell."""
    for name in cnn.PARAM_NAMES:
        a, b = pooled[1][name], pooled[3][name]
        assert (a - b).norm() / a.norm() > 50 * META_GRAD_REL
