r"""Summary statistics of per-batch results: mean, std over batches, 95% confidence interval.

Each batch of held-out tasks is one independent sample (its own tasks and device noise); with
:math:`n` batches of means :math:`x_i`, the 95% interval of the mean is

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n, \quad s^2 = \tfrac{1}{n-1}\sum_i (x_i - \bar x)^2

(Student's t over batches).
"""

from __future__ import annotations

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
