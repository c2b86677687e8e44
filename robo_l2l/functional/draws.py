r"""Random draws that can be keyed per task.

Every random draw of the robot's inner loop has the task as its leading axis (a ``(B, ...)``
tensor: one array, one trial, one read per task). Given a plain ``torch.Generator`` the draw is
one call, as torch makes it. Given :class:`PerTask` (one generator per task), row ``b`` comes
from generator ``b`` alone, so a task's numbers do not depend on which other tasks share its
batch: what lets ``torchrun`` split a meta-batch across processes without changing the result
(:mod:`robo_l2l.distributed`). The price is one call per task per draw.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class PerTask:
    """One ``torch.Generator`` per task (all on one device); row ``b`` of a draw uses the ``b``-th."""

    def __init__(self, generators: Sequence[torch.Generator]) -> None:
        self.generators = list(generators)
        if not self.generators:
            raise ValueError("PerTask needs at least one generator")
        devices = {g.device for g in self.generators}
        if len(devices) != 1:
            raise ValueError(
                f"per-task generators live on several devices: {sorted(map(str, devices))}"
            )
        self.device = self.generators[0].device

    def __len__(self) -> int:
        return len(self.generators)

    def rows(self, shape: Sequence[int]):
        if not shape or shape[0] != len(self.generators):
            raise ValueError(
                f"a per-task draw needs the task axis first: shape {tuple(shape)} for "
                f"{len(self.generators)} tasks"
            )
        return self.generators


Generator = torch.Generator | PerTask | None


def _draw(sample, shape, generator: Generator, dtype, device) -> torch.Tensor:
    if isinstance(generator, PerTask):
        rows = [
            sample(tuple(shape[1:]), generator=g, dtype=dtype, device=device)
            for g in generator.rows(shape)
        ]
        return torch.stack(rows)
    return sample(shape, generator=generator, dtype=dtype, device=device)


def randn(shape, generator: Generator, dtype=None, device=None) -> torch.Tensor:
    """Standard normal ``shape``; per task when ``generator`` is :class:`PerTask`."""
    return _draw(torch.randn, shape, generator, dtype, device)


def rand(shape, generator: Generator, dtype=None, device=None) -> torch.Tensor:
    """Uniform on ``[0, 1)``, ``shape``; per task when ``generator`` is :class:`PerTask`."""
    return _draw(torch.rand, shape, generator, dtype, device)


def bernoulli(p: torch.Tensor, generator: Generator) -> torch.Tensor:
    """Bernoulli draws with probabilities ``p``; per task when ``generator`` is :class:`PerTask`."""
    if isinstance(generator, PerTask):
        return torch.stack(
            [
                torch.bernoulli(row, generator=g)
                for row, g in zip(p, generator.rows(p.shape), strict=True)
            ]
        )
    return torch.bernoulli(p, generator=generator)
