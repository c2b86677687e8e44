r"""The reference few-shot CNN as pure functions (FEWSHOT.md section 1).

Four blocks :math:`a_l = \mathrm{BN}(\mathrm{ReLU}(\mathrm{conv}_l(a_{l-1})))` (3x3 kernels,
stride 2, zero padding 1, no bias; 1 -> 56 -> 56 -> 56 -> 56 channels, 28 -> 14 -> 7 -> 4 -> 2
pixels), a global max pool and a readout without bias, :math:`z = F W`.

Batch norm has no affine parameters and always uses the statistics of the current call
(as the reference, which never switches to inference statistics): per channel,

.. math::
    y = (x - \mu_c) / \sqrt{\sigma_c^2 + \epsilon}, \quad \epsilon = 10^{-3},

with the mean and the biased variance over all tasks, images and positions of the call
(``per_task_bn=False``, the reference's pooling over a meta-batch) or over each task's images
and positions alone.

Parameters are a dict of five tensors: ``kernel1`` .. ``kernel4`` in PyTorch layout
``(c_out, c_in, 3, 3)`` and ``readout`` ``(channels, way)``. Every weight may carry a leading task
axis ``B`` (per-task copies, as PCM deployment needs); the tasks then run as one grouped
convolution. Activations are kept image-major, ``(n, R, B, C, H, W)`` (``R`` independent calls,
e.g. the inner loop's repeated noisy forwards, computed at once), so that both the shared and
the grouped convolution read them without copies in evaluation; in training they read a
channels-last copy (faster; see ``_conv_input``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as tnf

KERNELS = ("kernel1", "kernel2", "kernel3", "kernel4")
PARAM_NAMES = (*KERNELS, "readout")
IMAGE_SIZE = 28
BN_EPSILON = 1e-3  #: Keras BatchNormalization default, used by the reference

#: A convolution of image-major activations ``(n, R, B, C, H, W)`` with layer ``l``'s kernels;
#: called as ``conv_fn(x, l)``, and for the first layer of repeated calls (``features``'s
#: ``repeats``) as ``conv_fn(x, 0, repeats)``, which returns the ``sum(repeats)`` calls.
ConvFn = Callable[..., torch.Tensor]


def init_params(
    generator: torch.Generator,
    channels: int = 56,
    way: int = 5,
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    r"""Glorot-uniform initial weights, :math:`\mathcal U(\pm\sqrt{6 / (fan_{in} + fan_{out})})`.

    Fans are :math:`9 c_{in}` and :math:`9 c_{out}` for kernels, ``channels`` and ``way`` for
    the readout (Keras' ``glorot_uniform``, as the reference).
    """
    if channels < 1 or way < 2:
        raise ValueError(f"need channels >= 1 and way >= 2, got {channels}, {way}")
    shapes = {
        "kernel1": (channels, 1, 3, 3),
        **{k: (channels, channels, 3, 3) for k in KERNELS[1:]},
        "readout": (channels, way),
    }
    params = {}
    for name, shape in shapes.items():
        if name == "readout":
            fan_in, fan_out = shape
        else:
            fan_in, fan_out = 9 * shape[1], 9 * shape[0]
        limit = math.sqrt(6.0 / (fan_in + fan_out))
        u = torch.rand(shape, generator=generator, dtype=dtype)
        params[name] = (2 * u - 1) * limit
    return params


def params_from_reference(
    arrays: dict[str, np.ndarray], dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """Reference layout (HWIO kernels ``(3, 3, c_in, c_out)``) -> our dict of tensors."""
    out = {k: torch.as_tensor(np.asarray(arrays[k])).permute(3, 2, 0, 1) for k in KERNELS}
    out["readout"] = torch.as_tensor(np.asarray(arrays["readout"]))
    return {k: v.to(dtype).contiguous() for k, v in out.items()}


def params_to_reference(
    params: dict[str, torch.Tensor], dtype: type = np.float32
) -> dict[str, np.ndarray]:
    """Inverse of :func:`params_from_reference` (numpy arrays, HWIO kernels)."""
    out = {k: params[k].detach().permute(2, 3, 1, 0).numpy() for k in KERNELS}
    out["readout"] = params["readout"].detach().numpy()
    return {k: np.ascontiguousarray(v, dtype=dtype) for k, v in out.items()}


def conv(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """3x3 convolution, stride 2, zero padding 1, no bias, of image-major activations.

    Args:
        x: ``(n, R, B, c_in, H, W)`` (``R`` independent calls of ``B`` tasks).
        weight: shared ``(c_out, c_in, 3, 3)`` or per task ``(B, c_out, c_in, 3, 3)``.

    Returns:
        ``(n, R, B, c_out, H', W')`` with :math:`H' = \\lfloor (H - 1) / 2 \\rfloor + 1`.
    """
    n, r, b, c_in, h, w = x.shape
    if weight.ndim == 5 and weight.shape[0] != b:
        raise ValueError(f"per-task kernels for {weight.shape[0]} tasks, activations have {b}")
    if weight.ndim == 4 or b == 1:
        kernel = weight if weight.ndim == 4 else weight[0]
        out = tnf.conv2d(_conv_input(x, tasks_as_groups=False), kernel, stride=2, padding=1)
        return out.view(n, r, b, *out.shape[1:])
    # Tasks as groups of one convolution.
    flat = weight.reshape(b * weight.shape[1], *weight.shape[2:])
    inputs = _conv_input(x, tasks_as_groups=True)
    out = tnf.conv2d(inputs, flat, stride=2, padding=1, groups=b)
    return out.view(n, r, b, -1, *out.shape[-2:])


def _conv_input(x: torch.Tensor, tasks_as_groups: bool) -> torch.Tensor:
    """``(n, R, B, C, H, W)`` as a batch of 4-D images: ``(n R B, C, H, W)``, or with the tasks
    as channel groups ``(n R, B C, H, W)``.

    With gradients (training) the images are a channels-last copy (a copy the NCHW reshape
    mostly makes anyway, since batch norm returns a permuted view): oneDNN's convolutions and
    their backward then ran the meta-iteration 1.1-1.2x faster with PCM (grouped, per-task
    kernels) and 1.1-1.3x with ideal weights (shared kernels) in interleaved timings. Without
    gradients the NCHW layout stays, so that evaluations reproduce the shipped tables bit for
    bit.
    """
    n, r, b, c, h, w = x.shape
    rows, channels = (n * r, b * c) if tasks_as_groups else (n * r * b, c)
    if not torch.is_grad_enabled():
        return x.reshape(rows, channels, h, w)
    order = (0, 1, 4, 5, 2, 3) if tasks_as_groups else (0, 1, 2, 4, 5, 3)
    return x.permute(order).contiguous().view(rows, h, w, channels).permute(0, 3, 1, 2)


def batch_norm(x: torch.Tensor, per_task: bool = False, eps: float = BN_EPSILON) -> torch.Tensor:
    """Batch statistics, no affine; ``x`` image-major ``(n, R, B, C, H, W)`` (see module doc).

    Statistics per call ``R`` and channel, pooled over tasks unless ``per_task``.
    """
    n, r, b, c, h, w = x.shape
    if per_task or b == 1:
        # Every (call, task, channel) is one channel of torch's fused batch norm.
        flat = tnf.batch_norm(x.reshape(n, r * b * c, h, w), None, None, training=True, eps=eps)
        return flat.view(x.shape)
    # Pooled over tasks: every (call, channel) is one channel of the fused batch norm, tasks
    # join the images (one copy; forward + backward measured 1.1-1.3x faster per PCM / ideal
    # meta-iteration than var_mean and its autograd).
    flat = x.permute(0, 2, 1, 3, 4, 5).reshape(n * b, r * c, h, w)
    out = tnf.batch_norm(flat, None, None, training=True, eps=eps)
    return out.view(n, b, r, c, h, w).permute(0, 2, 1, 3, 4, 5)


def features(
    images: torch.Tensor,
    kernels: Sequence[torch.Tensor] | None = None,
    *,
    conv_fn: ConvFn | None = None,
    per_task_bn: bool = False,
    eps: float = BN_EPSILON,
    activations: list[torch.Tensor] | None = None,
    repeats: Sequence[int] | None = None,
) -> torch.Tensor:
    """The four blocks and the global max pool.

    Args:
        images: ``(B, n, 28, 28)``, or ``(R, B, n, 28, 28)`` for ``R`` independent calls
            computed at once (each with its own batch statistics and, on PCM, read noise).
        kernels: the four kernels (shared or per task), used with :func:`conv`; or
        conv_fn: ``conv_fn(x, l)`` computing layer ``l`` (0..3) of ``(n, R, B, C, H, W)``.
        per_task_bn: batch statistics per task instead of pooled over the call.
        activations: if a list is given, the block outputs ``([R,] B, n, C, H, W)`` are
            appended.
        repeats: with ``(D, B, n, 28, 28)`` images, call ``d`` is made ``repeats[d]`` times
            (``R = sum(repeats)`` calls, as ``images.repeat_interleave(repeats, 0)``); the
            first layer's ``conv_fn`` gets the ``D`` distinct inputs and the counts, so that
            a device model computes its products once and draws read noise per call.

    Returns:
        Features ``([R,] B, n, C)``.
    """
    if conv_fn is None:
        if kernels is None or len(kernels) != 4:
            raise ValueError("features needs four kernels or a conv_fn")
        ks = list(kernels)

        def conv_fn(x, layer, reps=None):
            out = conv(x, ks[layer])
            return out if reps is None else out.repeat_interleave(torch.as_tensor(reps), 1)

    single = images.ndim == 4
    calls = images.unsqueeze(0) if single else images
    if repeats is not None and (single or len(repeats) != calls.shape[0]):
        raise ValueError(f"repeats {list(repeats)} need one count per image set (D, B, n, 28, 28)")
    if repeats is not None and all(r == 1 for r in repeats):
        repeats = None  # nothing is read twice (e.g. ideal weights): no repeat, no copy
    a = calls.permute(2, 0, 1, 3, 4).unsqueeze(3).contiguous()  # (n, R, B, 1, 28, 28)
    for layer in range(4):
        out = conv_fn(a, layer) if layer or repeats is None else conv_fn(a, 0, repeats)
        a = batch_norm(torch.relu(out), per_task_bn, eps)
        if activations is not None:
            act = a.permute(1, 2, 0, 3, 4, 5)
            activations.append(act[0] if single else act)
    # Global max pool over the 2x2 map; the gradient goes to the first maximum (as TF's).
    pooled = a.flatten(-2).max(-1).values.permute(1, 2, 0, 3)  # (R, B, n, C)
    return pooled[0] if single else pooled


def logits(feats: torch.Tensor, readout: torch.Tensor) -> torch.Tensor:
    """:math:`z = F W`: ``(B, n, C)`` times ``(C, N)`` or per task ``(B, C, N)``."""
    return torch.matmul(feats, readout)
