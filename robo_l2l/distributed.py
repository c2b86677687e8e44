r"""Meta-training over several processes with ``torch.distributed`` (launched by ``torchrun``).

Each meta-iteration's batch of :math:`B` tasks is split into equal, contiguous shards, one per
rank (rank :math:`r` holds tasks :math:`rB/W \ldots (r+1)B/W - 1` of :math:`W` ranks). Every
task draws its trajectory and its device noise from generators keyed by the run's seed, the
iteration and the task's global index (``draws="task"``, :func:`robo_l2l.meta.task_generators`), so
the split changes no random number. The meta-loss

.. math:: \mathcal L = \frac1B \sum_{i=1}^{B} \ell_i + R(\bar z), \qquad
          \bar z = \frac{1}{B} \sum_{i=1}^{B} \bar z_i

is a sum over tasks plus a rate regulariser of the rate pooled over *all* tasks. Rank :math:`r`
differentiates :math:`\frac1B \sum_{i \in r} \ell_i + R/W` with :math:`\bar z` summed across
ranks by a differentiable all-reduce (its backward all-reduces the incoming gradients); the
sum of the ranks' parameter gradients, one all-reduce of one flat buffer per iteration, is then
exactly :math:`\nabla \mathcal L`. Every rank takes the same Adam step on the same gradient, so
the weights stay identical without a broadcast.

Why not ``DistributedDataParallel``: DDP wraps an ``nn.Module`` and overlaps bucketed
all-reduces with the backward pass. Our parameters are a dict of tensors used functionally
(deployed per task onto simulated arrays), the gradient is about 1 MB and the backward pass is a
long loop over time steps, so overlap would save microseconds; an explicit all-reduce is simpler
and keeps the pooled regulariser exact.

Backends: gloo on CPU, NCCL on CUDA (``cuda:LOCAL_RANK``). Collectives time out after
``timeout_s`` (a rank that died makes the others raise instead of waiting forever).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


class PeerError(RuntimeError):
    """A collective with the other ranks failed: one died, or did not answer in time."""


@dataclass(frozen=True)
class Shard:
    """This process's part of a meta-batch of ``batch_size`` tasks."""

    rank: int = 0
    world_size: int = 1
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1 or not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank {self.rank} is not one of {self.world_size} processes")
        if self.batch_size % self.world_size:
            raise ValueError(
                f"the meta-batch of {self.batch_size} tasks does not split evenly over "
                f"{self.world_size} processes; choose a batch size that is a multiple of "
                f"{self.world_size}"
            )

    @property
    def local_size(self) -> int:
        return self.batch_size // self.world_size

    @property
    def indices(self) -> range:
        """Global indices of this rank's tasks."""
        return range(self.rank * self.local_size, (self.rank + 1) * self.local_size)

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` summed over every rank, differentiable (identity on one process)."""
        if not self.distributed:
            return x
        from torch.distributed.nn.functional import all_reduce

        return all_reduce(x, op=dist.ReduceOp.SUM)

    def task_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mean over the whole meta-batch of per-task values ``x (local tasks, ...)``."""
        return self.sum(x.sum(0)) / self.batch_size

    def sum_gradients(self, params: list[torch.Tensor]) -> None:
        """Replace each ``p.grad`` by its sum over ranks (one all-reduce of a flat buffer)."""
        if not self.distributed:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def sum_values(self, values: list[float], device: str | torch.device = "cpu") -> list[float]:
        """Plain numbers summed over ranks (metrics), not differentiated."""
        if not self.distributed:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    @contextlib.contextmanager
    def peers(self, what: str):
        """Turn a failed collective inside the block into a :class:`PeerError` that says so."""
        try:
            yield
        except RuntimeError as exc:
            if not self.distributed or isinstance(exc, PeerError):
                raise
            raise PeerError(
                f"rank {self.rank} of {self.world_size}: {what} failed: another rank died or "
                f"did not answer within the collective timeout ({exc}); the run can continue "
                "from its last checkpoint with --resume"
            ) from exc

    def broadcast(self, obj):
        """Rank 0's ``obj`` (any picklable value) on every rank."""
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def init(device: str, batch_size: int, timeout_s: float = 1800.0) -> Shard:
    """Join the process group ``torchrun`` describes (or none), return this process's shard.

    The batch size is checked before the group is joined, so a batch that does not split
    evenly fails on every rank at once, before any work.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    shard = Shard(rank, world_size, batch_size)
    if not shard.distributed:
        return shard
    if not timeout_s > 0:
        raise ValueError(f"the collective timeout must be > 0 s, got {timeout_s}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        backend = "nccl"
    else:
        backend = "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return shard


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
