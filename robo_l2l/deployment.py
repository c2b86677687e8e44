r"""The PCM deployment of a run: how its weights live on the chip, and at what device age.

A run's config (:class:`~robo_l2l.config.MetaConfig`) holds one
:class:`~robo_l2l.pcm.PCMConfig` as its ``deployment``: arithmetic, time since programming
(``t_inference_s``), drift compensation, update quantisation and the noise switches. It is
saved in ``config.json`` and in every checkpoint. Configs written before the field existed
name only ``pcm_arithmetic``; :func:`legacy_deployment` maps it exactly as the code of that time
did (``reference`` -> :meth:`PCMConfig.reference`, otherwise the defaults: 32 s, no
compensation).

Every report states the deployment with :func:`describe`, and every device age is written with
the one formatter :func:`format_age`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from typing import Any

import torch

from robo_l2l.pcm import PCMConfig

ARITHMETICS = ("per_matrix", "reference")

#: Units of :func:`format_age`, largest first (s). A month is 30 days, a year 365 days.
AGE_UNITS = (
    ("year", 365 * 86400.0),
    ("month", 30 * 86400.0),
    ("day", 86400.0),
    ("h", 3600.0),
    ("min", 60.0),
    ("s", 1.0),
)


def format_age(seconds: float) -> str:
    """A device age (s) in the largest unit it reaches: ``32 s``, ``1 h``, ``1 day``, ``2 years``.

    Three significant digits (``1.5 h``); ages below 1 s in seconds (``0.5 s``).
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"a device age must be a finite number of seconds > 0, got {seconds}")
    for unit, size in AGE_UNITS:
        if seconds >= size or unit == "s":
            value = float(f"{seconds / size:.3g}")
            text = f"{value:g}"
            plural = unit in ("year", "month", "day") and value != 1
            return f"{text} {unit}{'s' if plural else ''}"
    raise AssertionError("unreachable")


def check_age(t_inference_s: float, t0_s: float = 1.0) -> float:
    """``t_inference_s`` if it is a finite time (s) at or after the drift law's ``t0_s``.

    The drift law :math:`G(t) = G_0 (t/t_0)^{-\\nu}` holds from :math:`t_0` on; earlier reads
    would make the conductance grow.
    """
    if not isinstance(t_inference_s, int | float) or isinstance(t_inference_s, bool):
        raise ValueError(f"device age must be a number of seconds, got {t_inference_s!r}")
    if not math.isfinite(t_inference_s) or t_inference_s <= 0:
        raise ValueError(f"device age must be a finite time > 0 s, got {t_inference_s}")
    if t_inference_s < t0_s:
        raise ValueError(
            f"device age {t_inference_s:g} s is before the drift law's reference time "
            f"t0 = {t0_s:g} s; use t_inference >= {t0_s:g} s"
        )
    return float(t_inference_s)


def to_dict(pcm: PCMConfig) -> dict[str, Any]:
    """The deployment as a JSON-ready dict (every field of :class:`PCMConfig`)."""
    return dataclasses.asdict(pcm)


def from_dict(values: dict[str, Any]) -> PCMConfig:
    """A :class:`PCMConfig` from :func:`to_dict`'s output; unknown fields are an error."""
    if not isinstance(values, dict):
        raise ValueError(f"deployment must be a JSON object, got {type(values).__name__}")
    known = {f.name for f in dataclasses.fields(PCMConfig)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown deployment fields {sorted(unknown)}")
    pcm = PCMConfig(**values)
    if not pcm.ideal:
        check_age(pcm.t_inference_s, pcm.t0_s)
    return pcm


def legacy_deployment(pcm_arithmetic: str) -> PCMConfig:
    """The deployment a config without a ``deployment`` field meant (its ``pcm_arithmetic``)."""
    if pcm_arithmetic not in ARITHMETICS:
        raise ValueError(f"unknown pcm_arithmetic {pcm_arithmetic!r}; choose one of {ARITHMETICS}")
    return PCMConfig.reference() if pcm_arithmetic == "reference" else PCMConfig()


def with_arithmetic(pcm: PCMConfig, pcm_arithmetic: str) -> PCMConfig:
    """``pcm`` with the arithmetic named ``per_matrix`` or ``reference``."""
    legacy_deployment(pcm_arithmetic)  # validates the name
    return replace(pcm, reference_arithmetic=pcm_arithmetic == "reference")


def override(
    pcm: PCMConfig,
    *,
    ideal: bool = False,
    t_inference_s: float | None = None,
    drift_compensation: bool | None = None,
) -> PCMConfig:
    """``pcm`` with the overrides a script was given (``None``: keep the run's).

    ``ideal`` replaces the devices by ideal weights; giving it together with an age or a drift
    compensation is a contradiction and raises ``ValueError``.
    """
    if ideal:
        given = [
            name
            for name, value in (
                ("--t-inference", t_inference_s),
                ("--drift-compensation", drift_compensation),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"--ideal has no devices, so {' and '.join(given)} cannot apply; drop one"
            )
        return PCMConfig.ideal_weights()
    if t_inference_s is not None:
        pcm = replace(pcm, t_inference_s=check_age(t_inference_s, pcm.t0_s))
    if drift_compensation is not None:
        pcm = replace(pcm, drift_compensation=drift_compensation)
    return pcm


def describe(pcm: PCMConfig) -> str:
    """One line: ``ideal weights`` or ``PCM (per-matrix), 32 s after programming, no drift
    compensation``."""
    if pcm.ideal:
        return "ideal weights"
    arithmetic = "reference arithmetic" if pcm.reference_arithmetic else "per-matrix"
    comp = "drift compensation" if pcm.drift_compensation else "no drift compensation"
    return f"PCM ({arithmetic}), {format_age(pcm.t_inference_s)} after programming, {comp}"


def summary(pcm: PCMConfig) -> dict[str, Any]:
    """The fields every report carries: deployment kind, age (s and text), compensation."""
    return {
        "deployment": "ideal" if pcm.ideal else "pcm",
        "t_inference_s": None if pcm.ideal else pcm.t_inference_s,
        "device_age": None if pcm.ideal else format_age(pcm.t_inference_s),
        "drift_compensation": False if pcm.ideal else pcm.drift_compensation,
        "deployment_text": describe(pcm),
    }


#: The default device-age range of meta-training over ages (s): 1 s to 1 year.
AGE_RANGE_S = (1.0, 365 * 86400.0)


def check_age_range(low: float, high: float, t0_s: float = 1.0) -> tuple[float, float]:
    """``(low, high)`` if both are device ages (:func:`check_age`) with ``low <= high``."""
    low, high = check_age(low, t0_s), check_age(high, t0_s)
    if low > high:
        raise ValueError(f"device-age range is empty: {low:g} s > {high:g} s")
    return low, high


def sample_ages(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    r"""``n`` device ages (s, float64), log-uniform on ``[low, high]``:
    :math:`t = \exp(\ln t_{lo} + u (\ln t_{hi} - \ln t_{lo}))`, :math:`u \sim \mathcal U(0, 1)`
    (one ``torch.rand`` draw per age from ``generator``)."""
    u = torch.rand(n, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
