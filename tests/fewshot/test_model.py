"""The CNN and the inner loop: identities, shapes, seeding, bad input."""

import math

import numpy as np
import pytest
import torch

from robo_l2l.fewshot import cnn, maml


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _params(dtype=torch.float64, channels=8, way=3, seed=0):
    return cnn.init_params(_gen(seed), channels=channels, way=way, dtype=dtype)


def _episodes(batch=2, way=3, shot=2, query=2, seed=1, dtype=torch.float64):
    g = _gen(seed)
    labels = torch.arange(way).repeat(shot)
    q_labels = torch.arange(way).repeat(query)
    return maml.Episodes(
        torch.rand(batch, way * shot, 28, 28, generator=g, dtype=dtype),
        labels.expand(batch, -1).clone(),
        torch.rand(batch, way * query, 28, 28, generator=g, dtype=dtype),
        q_labels.expand(batch, -1).clone(),
    )


def test_init_params_glorot_and_seeded():
    p = cnn.init_params(_gen(3))
    assert {k: tuple(v.shape) for k, v in p.items()} == {
        "kernel1": (56, 1, 3, 3),
        "kernel2": (56, 56, 3, 3),
        "kernel3": (56, 56, 3, 3),
        "kernel4": (56, 56, 3, 3),
        "readout": (56, 5),
    }
    assert sum(v.numel() for v in p.values()) == 85456
    limit = math.sqrt(6 / (9 * 56 + 9 * 56))
    assert p["kernel2"].abs().max() <= limit
    # Uniform: the variance is limit^2 / 3.
    assert p["kernel2"].var().item() == pytest.approx(limit**2 / 3, rel=0.03)
    for k, v in cnn.init_params(_gen(3)).items():
        torch.testing.assert_close(v, p[k], rtol=0, atol=0)


def test_reference_layout_round_trip():
    p = _params()
    back = cnn.params_from_reference(cnn.params_to_reference(p, np.float64), torch.float64)
    for k in cnn.PARAM_NAMES:
        torch.testing.assert_close(back[k], p[k], rtol=0, atol=0)


def test_grouped_conv_equals_per_task_conv():
    g = _gen(4)
    x = torch.randn(3, 2, 4, 5, 9, 9, generator=g, dtype=torch.float64)  # (n, R, B, C, H, W)
    w = torch.randn(4, 6, 5, 3, 3, generator=g, dtype=torch.float64)
    x.requires_grad_()
    w.requires_grad_()
    out = cnn.conv(x, w)  # with gradients: the channels-last path
    assert out.shape == (3, 2, 4, 6, 5, 5)
    with torch.no_grad():
        torch.testing.assert_close(cnn.conv(x, w), out.detach())  # the NCHW path
    loop = torch.cat([cnn.conv(x[:, :, b : b + 1], w[b]) for b in range(4)], 2)
    torch.testing.assert_close(out, loop)
    g = torch.randn(out.shape, generator=_gen(5), dtype=out.dtype)
    grads = torch.autograd.grad(out, (x, w), g)
    for a, e in zip(grads, torch.autograd.grad(loop, (x, w), g), strict=True):
        torch.testing.assert_close(a, e)


def test_batch_norm_statistics_pooled_and_per_task():
    g = _gen(5)
    x = torch.randn(5, 2, 3, 4, 6, 6, generator=g, dtype=torch.float64) * 3 + 1
    pooled = cnn.batch_norm(x)
    per_task = cnn.batch_norm(x, per_task=True)
    for y, dims in ((pooled, (0, 2, 4, 5)), (per_task, (0, 4, 5))):
        torch.testing.assert_close(y.mean(dims), torch.zeros_like(y.mean(dims)))
        var = y.var(dims, correction=0)
        # biased variance with eps 1e-3 in the denominator
        expected = x.var(dims, correction=0) / (x.var(dims, correction=0) + 1e-3)
        torch.testing.assert_close(var, expected)
    # A channel that is all zero stays exactly zero (0 / sqrt(eps)).
    x[:, :, :, 0] = 0
    assert (cnn.batch_norm(x)[:, :, :, 0] == 0).all()


def test_calls_are_independent_forwards():
    p = _params()
    ep = _episodes()
    ks = [p[k] for k in cnn.KERNELS]
    both = cnn.features(torch.stack([ep.support_images, ep.query_images]), ks)
    torch.testing.assert_close(both[0], cnn.features(ep.support_images, ks))
    torch.testing.assert_close(both[1], cnn.features(ep.query_images, ks))
    # Pooled statistics couple the tasks of a call, per-task statistics do not.
    alone = cnn.features(ep.support_images[:1], ks)[0]
    torch.testing.assert_close(cnn.features(ep.support_images, ks, per_task_bn=True)[0], alone)
    assert not torch.allclose(both[0][0], alone)


def test_readout_gradient_equals_autograd():
    g = _gen(6)
    feats = torch.randn(2, 6, 8, generator=g, dtype=torch.float64)
    w = torch.randn(2, 8, 3, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([[0, 1, 2, 0, 1, 2], [2, 2, 1, 0, 0, 1]])
    loss = maml.cross_entropy(feats @ w, labels).sum()
    (auto,) = torch.autograd.grad(loss, w)
    torch.testing.assert_close(maml.readout_gradient(feats, feats @ w, labels), auto)


def test_second_order_meta_gradient_equals_nested_autograd():
    """The closed-form inner gradient kept in the graph = autograd through autograd."""
    p = {k: v.requires_grad_(True) for k, v in _params().items()}
    ep = _episodes()
    cfg = maml.InnerLoopConfig(updates=2)
    r = maml.inner_loop(p, ep, cfg)
    ours = torch.autograd.grad(r.query_loss, list(p.values()))

    ks = [p[k] for k in cnn.KERNELS]
    sf = cnn.features(ep.support_images, ks)
    qf = cnn.features(ep.query_images, ks)
    w = p["readout"].expand(2, *p["readout"].shape)
    for _ in range(2):
        loss = maml.cross_entropy(sf @ w, ep.support_labels).sum()
        (grad,) = torch.autograd.grad(loss, w, create_graph=True)
        w = w - cfg.lr * grad
    ref_loss = maml.cross_entropy(qf @ w, ep.query_labels).mean()
    ref = torch.autograd.grad(ref_loss, list(p.values()))
    torch.testing.assert_close(r.query_loss, ref_loss)
    for a, b in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, b)


def test_first_order_ignores_the_inner_gradients_path():
    p = {k: v.requires_grad_(True) for k, v in _params().items()}
    ep = _episodes()
    r = maml.inner_loop(p, ep, maml.InnerLoopConfig(updates=2, second_order=False))
    g_read = torch.autograd.grad(r.query_loss, p["readout"])[0]
    # First order: d loss / d W0 = d loss / d W_final (the updates are constants).
    w_final = r.readouts[-1].clone().requires_grad_(True)
    ks = [p[k].detach() for k in cnn.KERNELS]
    loss = maml.cross_entropy(cnn.features(ep.query_images, ks) @ w_final, ep.query_labels)
    (g_final,) = torch.autograd.grad(loss.mean(), w_final)
    torch.testing.assert_close(g_read, g_final.sum(0))


def test_accuracy_first_index_on_ties():
    z = torch.tensor([[[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]]])
    assert maml.accuracy(z, torch.tensor([[0, 1]])).item() == 1.0
    assert maml.accuracy(z, torch.tensor([[1, 2]])).item() == 0.0


def test_pcm_inner_loop_seeded_and_counts_writes():
    p = _params(torch.float32)
    ep = _episodes(dtype=torch.float32)
    pcm = maml.reference_pcm()
    a = maml.inner_loop(p, ep, pcm=pcm, generator=_gen(7))
    b = maml.inner_loop(p, ep, pcm=pcm, generator=_gen(7))
    c = maml.inner_loop(p, ep, pcm=pcm, generator=_gen(8))
    torch.testing.assert_close(a.query_logits, b.query_logits, rtol=0, atol=0)
    assert not torch.equal(a.query_logits, c.query_logits)
    assert a.devices_written.shape == (4, 2) and (a.devices_written <= 8 * 3).all()
    # Every written readout weight moved, every other one kept its value exactly.
    moved = (a.readouts[1:] != a.readouts[:-1]).flatten(2).sum(2)
    torch.testing.assert_close(moved, a.devices_written)
    ideal = maml.inner_loop(p, ep, pcm=maml.ideal_pcm())
    torch.testing.assert_close(ideal.query_logits, maml.inner_loop(p, ep).query_logits)
    with pytest.raises(ValueError, match="Generator"):
        maml.inner_loop(p, ep, pcm=pcm)


def test_pcm_meta_gradient_is_finite_and_flows_to_all_tensors():
    p = {k: v.requires_grad_(True) for k, v in _params(torch.float32).items()}
    r = maml.inner_loop(
        p, _episodes(dtype=torch.float32), pcm=maml.reference_pcm(), generator=_gen(9)
    )
    grads = torch.autograd.grad(r.query_loss, list(p.values()))
    assert all(torch.isfinite(g).all() and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda e: e._replace(support_images=e.support_images[..., :27]), "28, 28"),
        (lambda e: e._replace(query_images=e.query_images.to(torch.float16)), "float32"),
        (lambda e: e._replace(support_images=e.support_images * 255), r"\[0, 1\]"),
        (lambda e: e._replace(support_images=e.support_images * float("nan")), "NaN"),
        (lambda e: e._replace(query_labels=e.query_labels + 3), "0..2"),
        (lambda e: e._replace(support_labels=e.support_labels.int()), "int64"),
        (lambda e: e._replace(support_labels=e.support_labels * 0), "1 classes"),
        (lambda e: e._replace(query_labels=e.query_labels[:, :-1]), "shape"),
    ],
)
def test_bad_episodes(change, match):
    with pytest.raises(ValueError, match=match):
        maml.inner_loop(_params(), change(_episodes()))


def test_bad_config():
    with pytest.raises(ValueError, match="lr"):
        maml.InnerLoopConfig(lr=0)
    with pytest.raises(ValueError, match="updates"):
        maml.InnerLoopConfig(updates=-1)
