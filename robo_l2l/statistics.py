r"""Summary statistics of per-batch results: mean, std over batches, 95% confidence interval.

Each batch of held-out tasks is one independent sample (its own tasks and device noise); with
:math:`n` batches of means :math:`x_i`, the 95% interval of the mean is

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n, \quad s^2 = \tfrac{1}{n-1}\sum_i (x_i - \bar x)^2

(Student's t over batches).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

#: Two-sided 95% quantiles t_{0.975, df} of Student's t for df = 1..30 (standard tables, e.g.
#: NIST/SEMATECH e-Handbook of Statistical Methods, Table 1.3.6.7.2).
T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
Z975 = 1.959964  #: the normal quantile, the limit for df -> inf


def t_quantile_975(df: int) -> float:
    """:math:`t_{0.975, df}`: the table up to df = 30, Cornish-Fisher beyond (error < 1e-3)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def t_cdf(x: float, df: int, steps: int = 4000) -> float:
    r"""Student's t distribution function :math:`P(T \le x)` for ``df`` degrees of freedom:
    :math:`\tfrac12 + \int_0^{|x|} f` (sign-adjusted), with the density
    :math:`f(t) = \frac{\Gamma(\frac{\nu+1}{2})}{\sqrt{\nu\pi}\,\Gamma(\frac{\nu}{2})}
    (1 + t^2/\nu)^{-(\nu+1)/2}` integrated by Simpson's rule (error < 1e-9 for |x| <= 50)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    c = math.exp(math.lgamma((df + 1) / 2) - math.lgamma(df / 2)) / math.sqrt(df * math.pi)
    h = abs(x) / steps
    total = sum(
        (1 if i in (0, steps) else 4 if i % 2 else 2) * (1 + (i * h) ** 2 / df) ** (-(df + 1) / 2)
        for i in range(steps + 1)
    )
    half = c * total * h / 3
    return 0.5 + half if x >= 0 else 0.5 - half


@functools.lru_cache(maxsize=256)
def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t (``0.5 < p < 1``), by bisection on :func:`t_cdf`."""
    if not 0.5 < p < 1:
        raise ValueError(f"quantile level must be in (0.5, 1), got {p}")
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        low, high = high, 2 * high
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if t_cdf(mid, df) < p else (low, mid)
    return (low + high) / 2


def widen_for_family(ci95: float, n: int, m: int) -> float:
    """The 95% half-width ``ci95`` of a mean over ``n`` batches widened to the Bonferroni level
    of ``m`` simultaneous comparisons: ``ci95 * t_{1 - 0.025/m, n-1} / t_{0.975, n-1}``, so
    that all ``m`` hold together with probability >= 95%."""
    if m < 1 or n < 2:
        raise ValueError(f"need m >= 1 comparisons and n >= 2 batches, got {m}, {n}")
    return ci95 * t_quantile(1 - 0.025 / m, n - 1) / t_quantile_975(n - 1)


def summarize(values: Sequence[float]) -> dict[str, float | None]:
    """``mean``, ``std`` (over batches, ddof 1) and ``ci95`` (half-width) of ``values``.

    With one value std and ci95 are ``None`` (not 0: one batch says nothing about the spread).
    """
    n = len(values)
    if n == 0:
        raise ValueError("no values to summarize")
    mean = math.fsum(values) / n
    if n == 1:
        return {"mean": mean, "std": None, "ci95": None, "n": 1}
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))
    return {"mean": mean, "std": std, "ci95": t_quantile_975(n - 1) * std / math.sqrt(n), "n": n}


def agree(mean_a: float, ci_a: float, mean_b: float, ci_b: float) -> bool:
    r"""Do two independent estimates of one quantity agree at the 95% level?

    Two means with 95% half-widths :math:`h_a, h_b` agree when
    :math:`|\bar x_a - \bar x_b| \le \sqrt{h_a^2 + h_b^2}` (the half-width of their
    difference). Asking the second mean to fall inside the first interval instead would fail
    for about 17% of honest pairs, since the second mean carries its own sampling error.
    """
    return abs(mean_a - mean_b) <= math.hypot(ci_a, ci_b)
