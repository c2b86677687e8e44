r"""Random draws that can be keyed per task.

Every random draw of the robot's inner loop has the task as its leading axis (a ``(B, ...)``
tensor: one array, one trial, one read per task). Given a plain ``torch.Generator`` the draw is
one call, as torch makes it. Given :class:`PerTask` (one generator per task), row ``b`` comes
from generator ``b`` alone, so a task's numbers do not depend on which other tasks share its
batch: what lets ``torchrun`` split a meta-batch across processes without changing the result
(:mod:`robo_l2l.distributed`).

Normal draws, the inner loop's per-step read noise among them, are served from per-task blocks
of ``BLOCK`` values drawn ahead (one call per task per block, not per draw). Measured on the
batch-90 natural inner loop with PCM (2 threads): per-task calls per draw made it 30-40 %
slower than one generator (5.3 s against 3.7-4.3 s), per-task blocks 10 % (4.84 s against 4.41
s, best of 4 each). Every row consumes its block in the same order,
so row ``b`` still depends on generator ``b`` and the sequence of draws alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

BLOCK = 16_384  #: normal values drawn ahead per task


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
        self._normal: dict = {}  # (dtype, device) -> [block (B, L), cursor]

    def normal(self, shape: Sequence[int], dtype, device) -> torch.Tensor:
        """Standard normal ``shape`` (task axis first) from the per-task blocks."""
        self.rows(shape)
        n = 1
        for size in shape[1:]:
            n *= int(size)
        key = (dtype, str(device))
        block, cursor = self._normal.get(key, (None, 0))
        if block is None or cursor + n > block.shape[1]:
            size = max(n, BLOCK)
            rows = [
                torch.randn(size, generator=g, dtype=dtype, device=device) for g in self.generators
            ]
            block, cursor = torch.stack(rows), 0
        self._normal[key] = (block, cursor + n)
        return block[:, cursor : cursor + n].reshape(tuple(shape))

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


def randn(shape, generator: Generator, dtype=None, device=None) -> torch.Tensor:
    """Standard normal ``shape``; per task when ``generator`` is :class:`PerTask`."""
    if isinstance(generator, PerTask):
        return generator.normal(shape, dtype or torch.get_default_dtype(), device)
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


def rand(shape, generator: Generator, dtype=None, device=None) -> torch.Tensor:
    """Uniform on ``[0, 1)``, ``shape``; per task when ``generator`` is :class:`PerTask`."""
    if isinstance(generator, PerTask):
        rows = [
            torch.rand(tuple(shape[1:]), generator=g, dtype=dtype, device=device)
            for g in generator.rows(shape)
        ]
        return torch.stack(rows)
    return torch.rand(shape, generator=generator, dtype=dtype, device=device)


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
