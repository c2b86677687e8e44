r"""Stages of the phase-change-memory (PCM) device model, as pure functions.

Constants are those of IBM aihwkit's ``PCMLikeNoiseModel`` (Nandakumar et al., ICECS 2019) as
used by Ortner et al. (2025). Conductances are in microsiemens (uS), times in seconds; a weight
``w`` maps to a differential pair :math:`G^\pm` with :math:`G = (w / s)\, g_{max}`, the positive
part on :math:`G^+`, the negative part on :math:`G^-` (``s`` is the array's weight scale).
``g`` denotes a normalised conductance :math:`G / g_{max} \in [0, 1]`.

Pipeline (:mod:`robo_l2l.pcm` composes it): weight -> conductance -> programming noise ->
drift exponent drawn at programming -> drift at time t -> read noise on every MVM -> weight.
Gradients pass straight through clipping and quantisation; noise is not differentiated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from robo_l2l.functional import draws
from robo_l2l.functional.spike_matmul import spike_matmul

G_MAX_US = 25.0  #: maximal device conductance (uS)
T_READ_S = 250e-9  #: duration of one read (s)
_TINY = 1e-12


def ste_clamp(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Clamp in the forward pass, identity gradient (straight-through)."""
    return x + (torch.clamp(x, low, high) - x).detach()


def quantize(x: torch.Tensor, step: float | torch.Tensor) -> torch.Tensor:
    """Round ``x`` to multiples of ``step`` (straight-through gradient)."""
    return x + (torch.round(x / step) * step - x).detach()


def programming_noise_std(g: torch.Tensor, g_max: float = G_MAX_US) -> torch.Tensor:
    """:math:`\\sigma_{prog} = \\max(-1.1731 g^2 + 1.9650 |g| + 0.2635, 0)` in uS, ``g = G/g_max``.

    The polynomial is fitted for ``g_max`` = 25 uS; for another ``g_max`` it scales linearly.
    """
    g = g.abs()
    return torch.clamp(-1.1731 * g**2 + 1.9650 * g + 0.2635, min=0.0) * (g_max / G_MAX_US)


def program(g: torch.Tensor, generator: torch.Generator, g_max: float = G_MAX_US) -> torch.Tensor:
    """Write normalised signed conductances ``g`` (``[-1, 1]``) with programming noise.

    Only the active device of each pair (sign of ``g``) is written; its conductance gets
    :math:`\\mathcal N(0, \\sigma_{prog}^2)` and is clipped to :math:`[0, g_{max}]`.
    Returns the programmed signed normalised conductance (straight-through gradient).
    """
    noise = draws.randn(g.shape, generator, dtype=g.dtype, device=g.device)
    noisy_magnitude = g.abs() + (programming_noise_std(g, g_max) / g_max * noise).detach()
    return torch.sign(g).detach() * ste_clamp(noisy_magnitude, 0.0, 1.0)


def drift_exponents(g: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Drift exponents drawn at programming: :math:`\\nu = |\\mu + \\sigma \\mathcal N(0,1)|`.

    :math:`\\mu = \\mathrm{clip}(-0.0155 \\ln|g| + 0.0244, 0.049, 0.1)`,
    :math:`\\sigma = \\mathrm{clip}(-0.0125 \\ln|g| - 0.0059, 0.008, 0.045)`; a zero
    conductance takes the limits (no ``log(0)``). Not differentiated.
    """
    log_g = torch.log(g.detach().abs().clamp_min(_TINY))
    mu = torch.clamp(-0.0155 * log_g + 0.0244, 0.049, 0.1)
    sigma = torch.clamp(-0.0125 * log_g - 0.0059, 0.008, 0.045)
    noise = draws.randn(g.shape, generator, dtype=g.dtype, device=g.device)
    return (mu + sigma * noise).abs()


def _log(x: float | torch.Tensor) -> float | torch.Tensor:
    return torch.log(x) if isinstance(x, torch.Tensor) else math.log(x)


def _sqrt_log(x: float | torch.Tensor) -> float | torch.Tensor:
    return torch.sqrt(torch.log(x)) if isinstance(x, torch.Tensor) else math.sqrt(math.log(x))


def _check_time(t: float | torch.Tensor, name: str = "t") -> None:
    ok = bool((t > 0).all()) if isinstance(t, torch.Tensor) else t > 0
    if not ok:
        raise ValueError(f"drift needs {name} > 0 (seconds), got {t}")


def drift_factor(nu: torch.Tensor, t: float | torch.Tensor, t0: float) -> torch.Tensor:
    """:math:`(t / t_0)^{-\\nu}` for a time ``t`` (s) after programming.

    ``t`` is one time for every device or a tensor that broadcasts against ``nu`` (e.g. one
    device age per task, ``(B, 1, 1)``).
    """
    _check_time(t)
    _check_time(t0, "t0")
    return torch.exp(-nu * _log(t / t0))


def read_noise_std(
    g: torch.Tensor, t: float | torch.Tensor, t_read: float = T_READ_S, g_max: float = G_MAX_US
) -> torch.Tensor:
    """1/f read noise of one weight in normalised units (divide by ``g_max`` applied).

    .. math::
        Q_s = \\min(0.0088 / |G|^{0.65}, 0.2), \\quad
        \\sigma_{read} = |G|\\, Q_s \\sqrt{\\ln\\frac{t + t_{read}}{t_{read}}} / \\sqrt 2

    with ``G`` in uS and ``t`` (s) the time since programming (a float, or a tensor that
    broadcasts against ``g``). Not differentiated.
    """
    big_g = g.detach().abs() * g_max
    q_s = torch.clamp(0.0088 / big_g.clamp_min(_TINY) ** 0.65, max=0.2)
    window = _sqrt_log((t + t_read) / t_read)
    return big_g * q_s * window / math.sqrt(2.0) / g_max


def _matmul(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``x (B, n) or (B, T, n)`` times ``w (n, m) or (B, n, m)``."""
    if w.ndim == 2 or x.ndim == 3:
        return torch.matmul(x, w)
    return torch.matmul(x.unsqueeze(-2), w).squeeze(-2)


def read(
    x: torch.Tensor,
    weight: torch.Tensor,
    read_var: torch.Tensor | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Matrix-vector product on the array with fresh read noise, sampled per output.

    Given the input, :math:`\\sum_i x_i (W_{ij} + \\epsilon_{ij})` with independent
    :math:`\\epsilon_{ij} \\sim \\mathcal N(0, \\sigma_{ij}^2)` is Gaussian with mean
    :math:`(xW)_j` and variance :math:`\\sum_i x_i^2 \\sigma_{ij}^2`, so one draw per output is
    exact in distribution and costs one extra product instead of ``n*m`` draws.

    Args:
        x: inputs ``(B, n)`` (one step of spikes: the sparse product of
            :mod:`robo_l2l.functional.spike_matmul`) or ``(B, T, n)`` (one read per time step).
        weight: ``(n, m)`` or per-task ``(B, n, m)``.
        read_var: per-device read-noise variance (weight units squared), or ``None``.
    """
    spikes = x.ndim == 2  # one step of a recurrent layer: binary, sparse input
    product = spike_matmul if spikes else _matmul
    out = product(x, weight)
    if read_var is None:
        return out
    std = torch.sqrt(product(x.detach() ** 2, read_var))
    noise = draws.randn(out.shape, generator, dtype=out.dtype, device=out.device)
    return out + std * noise


def read_noise(z: torch.Tensor, read_var: torch.Tensor, generator: torch.Generator | None):
    """Only the read-noise part of :func:`read` for spikes ``z (B, n)`` (not differentiated)."""
    std = torch.sqrt(spike_matmul(z.detach(), read_var))
    return std * draws.randn(std.shape, generator, dtype=std.dtype, device=std.device)


def read_per_device(
    x: torch.Tensor, weight: torch.Tensor, read_std: torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    """Reference implementation of :func:`read`: one noise draw per device (for tests)."""
    noise = draws.randn(weight.shape, generator, dtype=weight.dtype, device=weight.device)
    return _matmul(x, weight + read_std * noise)


def quantize_stochastic(
    x: torch.Tensor, step: float | torch.Tensor, generator: torch.Generator
) -> torch.Tensor:
    r"""Unbiased stochastic rounding of ``x`` to multiples of ``step`` (straight-through).

    .. math::
        t = \mathrm{trunc}(x / s)\, s, \quad r = (x - t) / s \in (-1, 1), \quad
        q = t + \mathrm{sign}(r)\, b\, s, \quad b \sim \mathrm{Bernoulli}(|r|)

    so :math:`E[q] = x`. The reference's few-shot update quantiser (FEWSHOT.md 4b.1).
    """
    scaled = x.detach() / step
    trunc = torch.trunc(scaled)
    r = scaled - trunc
    b = draws.bernoulli(r.abs().clamp(0.0, 1.0), generator)
    q = (trunc + torch.sign(r) * b) * step
    return x + (q - x).detach()


def read_noise_std_per_weight(
    g: torch.Tensor, t: float | torch.Tensor, t_read: float = T_READ_S, g_max: float = G_MAX_US
) -> torch.Tensor:
    """Read noise of one device read once per call (the reference's few-shot readout).

    .. math::
        \\sigma = |G|\\, Q_s \\sqrt{\\ln\\frac{t + t_{read}}{2 t_{read}}}

    in normalised units (aihwkit's window, no :math:`1/\\sqrt 2`; FEWSHOT.md 4b).
    """
    big_g = g.detach().abs() * g_max
    q_s = torch.clamp(0.0088 / big_g.clamp_min(_TINY) ** 0.65, max=0.2)
    window = _sqrt_log((t + t_read) / (2.0 * t_read))
    return big_g * q_s * window / g_max


def read_per_weight(
    x: torch.Tensor,
    weight: torch.Tensor,
    read_std: torch.Tensor,
    generator: torch.Generator,
    limit: float | torch.Tensor = 1.0,
) -> torch.Tensor:
    """``x @ W_read`` with one noise draw per device, shared by every input row of the call.

    The noise goes to the device carrying the weight and is clipped to that device's range:
    :math:`W_{read} = \\mathrm{clip}_{[0, L]}(W + n)` for :math:`W > 0`,
    :math:`\\mathrm{clip}_{[-L, 0]}(W + n)` for :math:`W < 0`, 0 for :math:`W = 0`, with
    :math:`W = \\mathrm{clip}(w, -L, L)`. Backward: the clean ``weight`` (straight-through).

    Args:
        x: ``(B, n, k)``; weight, read_std: ``(B, k, m)`` (or ``(k, m)``); limit: ``L``.
    """
    w = weight.detach()
    clipped = torch.clamp(w, -limit, limit)
    noisy = clipped + read_std * draws.randn(w.shape, generator, dtype=w.dtype, device=w.device)
    zero = torch.zeros_like(noisy)
    w_read = torch.where(
        clipped > 0,
        torch.minimum(torch.maximum(noisy, zero), zero + limit),
        torch.where(clipped < 0, torch.maximum(torch.minimum(noisy, zero), zero - limit), zero),
    )
    return torch.matmul(x, weight) + torch.matmul(x.detach(), w_read - clipped)


def read_linear(
    op,
    x: torch.Tensor,
    weight: torch.Tensor,
    read_var: torch.Tensor | None,
    generator: torch.Generator | None,
    repeats: Sequence[int] | None = None,
    dim: int = 0,
) -> torch.Tensor:
    """:func:`read` for any product ``op(x, w)`` linear in ``w`` (e.g. a convolution).

    One Gaussian draw per output with variance ``op(x**2, read_var)``: the exact sum of
    independent per-device noise over each dot product, at the cost of one extra ``op``
    instead of a noise tensor per (output, input) pair. Noise is not differentiated.

    With ``repeats``, slice ``d`` of the output along ``dim`` is read ``repeats[d]`` times
    (the same input read again, fresh noise each time): both products are computed once per
    distinct input and repeated, the noise is drawn for every read, and the result is what
    ``x.repeat_interleave(repeats, dim)`` as input would give; neither product is repeated in
    memory (each read is written into its own noise draw, :class:`_RepeatedReads`).
    """
    out = op(x, weight)
    if read_var is None:
        return out if repeats is None else _repeat(out, repeats, dim)
    with torch.no_grad():
        std = op(torch.square(x), read_var).sqrt_()
    if repeats is not None:
        _check_repeats(out, repeats, dim)
        return _RepeatedReads.apply(out, std, generator, tuple(repeats), dim)
    with torch.no_grad():
        noise = draws.randn(std.shape, generator, dtype=std.dtype, device=std.device)
        # In place: a linear op's backward does not need its output.
        out.addcmul_(std, noise)
    return out


def _check_repeats(x: torch.Tensor, repeats: Sequence[int], dim: int) -> None:
    if len(repeats) != x.shape[dim]:
        raise ValueError(f"{len(repeats)} repeat counts for {x.shape[dim]} slices along dim {dim}")


def _repeat(x: torch.Tensor, repeats: Sequence[int], dim: int) -> torch.Tensor:
    _check_repeats(x, repeats, dim)
    return torch.repeat_interleave(x, torch.as_tensor(repeats), dim=dim)


class _RepeatedReads(torch.autograd.Function):
    """``_repeat(out) + _repeat(std) * noise`` built in the noise tensor: the same draws and
    values without materialising either repeat. Backward: each read's gradient summed back
    onto the slice it repeats (the noise and ``std`` are not differentiated)."""

    @staticmethod
    def forward(ctx, out, std, generator, repeats, dim):
        ctx.repeats, ctx.dim = repeats, dim
        shape = list(out.shape)
        shape[dim] = sum(repeats)
        noise = draws.randn(shape, generator, dtype=std.dtype, device=std.device)
        start = 0
        for d, r in enumerate(repeats):
            reads = noise.narrow(dim, start, r)
            reads.mul_(std.narrow(dim, d, 1)).add_(out.narrow(dim, d, 1))
            start += r
        return noise

    @staticmethod
    def backward(ctx, grad):
        sums = [part.sum(ctx.dim, keepdim=True) for part in grad.split(ctx.repeats, ctx.dim)]
        return torch.cat(sums, ctx.dim), None, None, None, None


def program_on_device(
    w: torch.Tensor, generator: torch.Generator, g_max: float = G_MAX_US
) -> torch.Tensor:
    """Programming noise for weights ``w`` in ``[-1, 1]`` (unit scale) on the active device.

    :math:`\\mathcal N(0, \\sigma_{prog}^2)` goes to the device carrying the weight and is
    clipped to its range (``[0, 1]`` for ``w > 0``, ``[-1, 0]`` for ``w < 0``); exact zeros
    get none (FEWSHOT.md 4b.3). Straight-through gradient.
    """
    noise = draws.randn(w.shape, generator, dtype=w.dtype, device=w.device)
    wd = w.detach()
    noisy = wd + programming_noise_std(wd, g_max) / g_max * noise
    zero = torch.zeros_like(noisy)
    out = torch.where(
        wd > 0, noisy.clamp(0.0, 1.0), torch.where(wd < 0, noisy.clamp(-1.0, 0.0), zero)
    )
    return w + (out - wd).detach()
