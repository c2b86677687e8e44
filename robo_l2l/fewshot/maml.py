r"""MAML with readout-only inner updates, ideal or on the PCM model (FEWSHOT.md sections 2, 4).

Per task :math:`b`, the readout :math:`W_b` (a per-task copy, deployed on PCM when a device model
is given) takes ``updates`` steps of SGD on the support loss
:math:`L_b = \frac{1}{S}\sum_i \mathrm{CE}(F_{b,i} W_b, y_{b,i})`:

.. math::
    \nabla_{W_b} L_b = F_b^\top (\mathrm{softmax}(F_b W_b) - Y_b) / S, \quad
    W_b \leftarrow \mathrm{reprogram}(W_b, -\eta \nabla_{W_b} L_b),

(the gradient of :math:`\sum_b L_b`, written in closed form). The kernels stay fixed in the inner
loop. With ``second_order`` the closed-form gradient stays in the autograd graph, so the
meta-gradient flows through it (as the reference's nested tapes); otherwise it is detached
(first-order MAML). The meta-loss is the mean query cross-entropy over all tasks' query images
after the last update. Accuracy: ``argmax`` (first index on ties) equal to the label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as tnf

from robo_l2l import pcm as P
from robo_l2l.fewshot import cnn
from robo_l2l.fewshot.episodes import Episodes
from robo_l2l.functional import pcm as F


@dataclass(frozen=True)
class InnerLoopConfig:
    """The inner loop's settings (reference values, FEWSHOT.md section 0)."""

    updates: int = 4
    """Readout updates per episode."""
    lr: float = 0.1
    """Inner learning rate (plain SGD)."""
    second_order: bool = True
    """Differentiate through the inner gradients (the reference); False: first-order MAML."""
    per_task_bn: bool = False
    """Batch statistics per task instead of pooled over the meta-batch (equal at B = 1)."""
    track_steps: bool = True
    """Also evaluate the query set before and after every update (with PCM: extra reads)."""

    def __post_init__(self) -> None:
        if self.updates < 0 or int(self.updates) != self.updates:
            raise ValueError(f"updates must be an integer >= 0, got {self.updates}")
        if not self.lr > 0:
            raise ValueError(f"inner lr must be > 0, got {self.lr}")


class ClassifierPCM(NamedTuple):
    """Device settings of the classifier: convolutions and readout read differently."""

    conv: P.PCMConfig
    readout: P.PCMConfig

    @property
    def ideal(self) -> bool:
        return self.conv.ideal and self.readout.ideal


def ideal_pcm() -> ClassifierPCM:
    """Software weights: no device, no quantisation."""
    return ClassifierPCM(P.PCMConfig.ideal_weights(), P.PCMConfig.ideal_weights())


def reference_pcm(t_inference_s: float = 32.0) -> ClassifierPCM:
    """The reference's ``PCMNoise`` for this network (FEWSHOT.md 4b), t/t0 = 32 by default.

    All five tensors deployed with the reference arithmetic (U(+-0.01) and drift, no programming
    noise, weights above 1 folded); per-output conv read noise; per-weight readout read noise;
    stochastic 1/16 updates of the readout added to its current value, written devices with
    programming noise on the active device and fresh drift.
    """
    base = P.PCMConfig.reference().at_time(t_inference_s)
    readout = P.PCMConfig(
        reference_arithmetic=True,
        t_inference_s=t_inference_s,
        read_noise_mode="per_weight",
        stochastic_rounding=True,
        programming_noise_on_device=True,
        update_adds_to_read_value=True,
    )
    return ClassifierPCM(base, readout)


class InnerLoopResult(NamedTuple):
    """Everything the inner loop computed. Only ``query_loss`` carries gradients.

    Step axes: ``U`` = updates; ``U + 1`` = before the first and after every update.
    """

    query_loss: torch.Tensor  #: scalar, mean CE over all query images after the last update
    query_acc: torch.Tensor  #: scalar, accuracy after the last update
    query_losses: torch.Tensor  #: (U+1, B) per task (only [-1] without track_steps)
    query_accs: torch.Tensor  #: (U+1, B)
    query_logits: torch.Tensor  #: (U+1, B, Q, N)
    support_losses: torch.Tensor  #: (U, B)
    support_accs: torch.Tensor  #: (U, B)
    support_logits: torch.Tensor  #: (U, B, S, N)
    inner_grads: torch.Tensor  #: (U, B, C, N), support-loss gradient before the lr
    readouts: torch.Tensor  #: (U+1, B, C, N) readout weights (as deployed) before/after updates
    support_features: torch.Tensor  #: (B, S, C) of the first support forward
    query_features: torch.Tensor  #: (B, Q, C) of the last query forward
    devices_written: torch.Tensor  #: (U, B) readout devices written per update (int64)


def check_episodes(episodes: Episodes, way: int) -> None:
    """Raise ``ValueError`` naming the problem for malformed episodes (before any work)."""
    si, sl, qi, ql = episodes
    for name, images in (("support_images", si), ("query_images", qi)):
        if not torch.is_tensor(images) or images.ndim != 4 or images.shape[-2:] != (28, 28):
            shape = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"{name} must be (B, n, 28, 28), got {shape}")
        if images.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"{name} must be float32 (or float64), got {images.dtype}")
        if not torch.isfinite(images).all():
            raise ValueError(f"{name} contain NaN or inf")
        if images.numel() and (images.min() < 0 or images.max() > 1):
            raise ValueError(
                f"{name} must lie in [0, 1] (preprocessed as the reference), got "
                f"[{images.min().item():.3g}, {images.max().item():.3g}]"
            )
    if si.shape[0] != qi.shape[0]:
        raise ValueError(f"support has {si.shape[0]} tasks, query {qi.shape[0]}")
    for name, labels, images in (("support_labels", sl, si), ("query_labels", ql, qi)):
        if not torch.is_tensor(labels) or labels.dtype != torch.int64:
            raise ValueError(f"{name} must be an int64 tensor")
        if labels.shape != images.shape[:2]:
            raise ValueError(
                f"{name} shape {tuple(labels.shape)} != images {tuple(images.shape[:2])}"
            )
        if labels.numel() and (labels.min() < 0 or labels.max() >= way):
            raise ValueError(f"{name} must lie in 0..{way - 1} for a {way}-way readout")
    for b in range(sl.shape[0]):
        present = torch.unique(sl[b]).numel()
        if present < way:
            raise ValueError(f"episode {b} has support images of {present} classes, needs {way}")


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-task mean softmax cross-entropy: ``(B, n, N)``, ``(B, n)`` -> ``(B,)``."""
    ce = tnf.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
    return ce.view(labels.shape).mean(1)


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-task accuracy (``argmax``, first index on ties): ``(B,)``."""
    return (logits.argmax(-1) == labels).to(logits.dtype).mean(1)


def readout_gradient(feats: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor):
    """:math:`F^\\top(\\mathrm{softmax}(z) - Y)/S` per task: ``(B, C, N)``."""
    err = torch.softmax(logits, -1) - tnf.one_hot(labels, logits.shape[-1]).to(logits.dtype)
    return feats.transpose(1, 2) @ err / labels.shape[1]


class _Device:
    """The classifier's weights on PCM for one inner loop (per-task copies)."""

    def __init__(self, params, batch, pcm: ClassifierPCM, generator: torch.Generator):
        self.pcm, self.generator = pcm, generator
        self.kernels = []
        for name in cnn.KERNELS:
            k = params[name]
            m = P.deploy(k.flatten(1), batch, pcm.conv, generator)
            self.kernels.append((m, k.shape))
        self.readout = P.deploy(params["readout"], batch, pcm.readout, generator)

    def conv(self, x: torch.Tensor, layer: int, repeats=None) -> torch.Tensor:
        m, shape = self.kernels[layer]
        b = x.shape[2]
        w = m.weight.reshape(b, *shape)
        var = None if m.read_std is None else (m.read_std**2).reshape(b, *shape)
        return F.read_linear(cnn.conv, x, w, var, self.generator, repeats, dim=1)

    def logits(self, feats: torch.Tensor) -> torch.Tensor:
        m, cfg = self.readout, self.pcm.readout
        if m.read_std is None:
            return cnn.logits(feats, m.weight)
        if P.per_weight(cfg):
            return F.read_per_weight(feats, m.weight, m.read_std, self.generator, m.scale)
        return F.read_linear(torch.matmul, feats, m.weight, m.read_std**2, self.generator)

    def update(self, delta: torch.Tensor) -> torch.Tensor:
        r = P.apply_update(self.readout, delta, self.pcm.readout, self.generator)
        self.readout = r.matrix
        return r.written.flatten(1).sum(1)


def _features_of_calls(si, qi, n_support, n_query, per_task_bn, conv_fn=None, kernels=None):
    """Features of ``n_support`` support and ``n_query`` query forwards (lists of ``(B, n, C)``).

    Calls of equal image count go through the network together; the first layer of the
    repeated calls of one set is computed once (:func:`robo_l2l.fewshot.cnn.features`).
    """
    kw = dict(kernels=kernels, conv_fn=conv_fn, per_task_bn=per_task_bn)
    if si.shape[1] == qi.shape[1] and n_support:
        out = cnn.features(torch.stack([si, qi]), repeats=(n_support, n_query), **kw)
        return list(out[:n_support]), list(out[n_support:])
    fs = list(cnn.features(si[None], repeats=(n_support,), **kw)) if n_support else []
    return fs, list(cnn.features(qi[None], repeats=(n_query,), **kw))


def inner_loop(
    params: dict[str, torch.Tensor],
    episodes: Episodes,
    cfg: InnerLoopConfig = InnerLoopConfig(),
    pcm: ClassifierPCM | None = None,
    generator: torch.Generator | None = None,
) -> InnerLoopResult:
    """Adapt the readout of every task on its support set, evaluate on its query set.

    Args:
        params: the five meta-learned tensors (:mod:`robo_l2l.fewshot.cnn`).
        episodes: a meta-batch of tensors or numpy arrays (checked by :func:`check_episodes`).
        cfg: inner-loop settings.
        pcm: device model (``None`` or :func:`ideal_pcm`: software weights).
        generator: source of every device draw (required with a device model).
    """
    way = params["readout"].shape[-1]
    episodes = Episodes(*(torch.as_tensor(t) for t in episodes))
    check_episodes(episodes, way)
    si, sl, qi, ql = (
        t.to(params["readout"].dtype) if t.is_floating_point() else t for t in episodes
    )
    batch = si.shape[0]
    ideal = pcm is None or pcm.ideal
    if not ideal and generator is None:
        raise ValueError("the PCM model needs a torch.Generator")
    bn = cfg.per_task_bn
    kernels = [params[k] for k in cnn.KERNELS]
    n_query_calls = cfg.updates + 1 if cfg.track_steps else 1

    if ideal:
        # Without noise every forward of a set gives the same features: compute each once.
        s_feats, q_feats = _features_of_calls(si, qi, 1, 1, bn, kernels=kernels)
        s_feats, q_feats = [s_feats[0]] * cfg.updates, [q_feats[0]] * n_query_calls
        w = params["readout"].expand(batch, *params["readout"].shape)

        def read(feats, w):
            return cnn.logits(feats, w)

        def update(w, delta):
            return w + delta, (delta != 0).flatten(1).sum(1)

        def weight(w):
            return w
    else:
        dev = _Device(params, batch, pcm, generator)
        # The kernels are fixed in the inner loop, so all forwards (fresh read noise each)
        # are independent of the readout: run them as one batch of calls.
        s_feats, q_feats = _features_of_calls(si, qi, cfg.updates, n_query_calls, bn, dev.conv)
        w = None

        def read(feats, _):
            return dev.logits(feats)

        def update(_, delta):
            return None, dev.update(delta)

        def weight(_):
            return dev.readout.weight

    rec: dict[str, list] = {k: [] for k in ("ql", "qa", "qz", "sl", "sa", "sz", "g", "w", "n")}

    def record_query(w, feats):
        z = read(feats, w)
        rec["qz"].append(z)
        rec["ql"].append(cross_entropy(z, ql))
        rec["qa"].append(accuracy(z.detach(), ql))

    rec["w"].append(weight(w).expand(batch, *params["readout"].shape).detach())
    for step in range(cfg.updates):
        if cfg.track_steps:
            record_query(w, q_feats[step])
        feats = s_feats[step]
        z = read(feats, w)
        grad = readout_gradient(feats, z, sl)
        if not cfg.second_order:
            grad = grad.detach()
        w, written = update(w, -cfg.lr * grad)
        rec["sz"].append(z.detach())
        rec["sl"].append(cross_entropy(z.detach(), sl))
        rec["sa"].append(accuracy(z.detach(), sl))
        rec["g"].append(grad.detach())
        rec["w"].append(weight(w).detach())
        rec["n"].append(written)
    record_query(w, q_feats[-1])
    query_loss = rec["ql"][-1].mean()
    readout_shape = params["readout"].shape

    def stack(key, shape):
        items = rec[key]
        return torch.stack([x.detach() for x in items]) if items else torch.zeros(0, *shape)

    n_s = si.shape[1]
    return InnerLoopResult(
        query_loss=query_loss,
        query_acc=rec["qa"][-1].mean(),
        query_losses=stack("ql", (batch,)),
        query_accs=stack("qa", (batch,)),
        query_logits=stack("qz", (batch, qi.shape[1], way)),
        support_losses=stack("sl", (batch,)),
        support_accs=stack("sa", (batch,)),
        support_logits=stack("sz", (batch, n_s, way)),
        inner_grads=stack("g", (batch, *readout_shape)),
        readouts=stack("w", (batch, *readout_shape)),
        support_features=(s_feats[0] if cfg.updates else q_feats[-1][:0]).detach(),
        query_features=q_feats[-1].detach(),
        devices_written=stack("n", (batch,)).to(torch.int64),
    )
