r"""The two recurrent spiking networks, run over a whole trial.

* The **trainee** (250 LIF, 5 clock inputs, 2 leaky readouts = joint angular velocities in rad/s)
  whose weights live on PCM (:mod:`robo_l2l.pcm`).
* The **learning-signal generator** (560 LIF + 240 ALIF, 53 inputs = clock + 16-bit target code,
  250 leaky readouts = one learning signal per trainee neuron), off-chip, ideal weights.

Inputs and feed-forward currents are precomputed for the whole trial (one product); the recurrent
layer runs as one operation with its own backpropagation through time
(:mod:`robo_l2l.functional.recurrent_trial`), bit for bit the step functions' arithmetic.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from robo_l2l.functional import pcm as F
from robo_l2l.functional.alif import ALIFParameters, adaptation_strength
from robo_l2l.functional.lif import LIFParameters, lif_initial_state, lif_step, no_self_connections
from robo_l2l.functional.readout import leaky_filter
from robo_l2l.functional.recurrent_trial import Adaptation, recurrent_trial
from robo_l2l.functional.spike_matmul import spike_train_matmul

KAPPA = math.exp(-1.0 / 20.0)  #: readout decay per step (tau_out = 20 ms)
N_TRAINEE = 250
N_GENERATOR = 800


class Synapses(NamedTuple):
    """Weights as a matrix multiplies with them: ``(n, m)`` or per task ``(B, n, m)``, plus the
    per-device read-noise variance (weight units squared) or ``None`` for exact weights."""

    weight: torch.Tensor
    read_var: torch.Tensor | None = None


class Trial(NamedTuple):
    """One run of the trainee: spikes, pseudo-derivatives and outputs, each ``(B, T, .)``."""

    spikes: torch.Tensor
    psi: torch.Tensor
    output: torch.Tensor


def run_trainee(
    clock: torch.Tensor,
    w_in: Synapses,
    w_rec: Synapses,
    w_out: Synapses,
    batch_size: int,
    generator: torch.Generator | None = None,
    p: LIFParameters = LIFParameters(),
    kappa: float = KAPPA,
) -> Trial:
    """Run the trainee over the clock input ``(T, 5)`` for ``batch_size`` tasks.

    Recurrent weights get :func:`no_self_connections`; every product reads its array with fresh
    noise (``generator``) when the synapses carry a read-noise variance.
    """
    x = clock.expand(batch_size, *clock.shape)
    current = F.read(x, w_in.weight, w_in.read_var, generator)
    rec_var = None if w_rec.read_var is None else no_self_connections(w_rec.read_var)
    layer = recurrent_trial(current, no_self_connections(w_rec.weight), p, rec_var, generator)
    y = leaky_filter(F.read(layer.spikes, w_out.weight, w_out.read_var, generator), kappa)
    return Trial(layer.spikes, layer.psi, y)


class GeneratorRun(NamedTuple):
    spikes: torch.Tensor  #: ``(B, T, 800)``
    learning_signal: torch.Tensor  #: ``(B, T, 250)``


def run_generator(
    inputs: torch.Tensor,
    w_in: torch.Tensor,
    w_rec: torch.Tensor,
    w_out: torch.Tensor,
    p: ALIFParameters = ALIFParameters(),
    kappa: float = KAPPA,
) -> GeneratorRun:
    """Run the learning-signal generator on ``inputs (B, T, 53)`` (clock then target code)."""
    current = torch.matmul(inputs, w_in)
    beta = adaptation_strength(w_rec.shape[-1], p, current)
    layer = recurrent_trial(
        current, no_self_connections(w_rec), p.lif, adaptation=Adaptation(beta, p.rho)
    )
    return GeneratorRun(layer.spikes, leaky_filter(spike_train_matmul(layer.spikes, w_out), kappa))


class TraineeStepper:
    """The trainee one step at a time, to drive an environment online.

    Same dynamics as :func:`run_trainee` (every product a fresh read of the arrays), but the
    caller feeds the clock step by step and receives the angular-velocity command
    :math:`y_t` (rad/s) of that step; spikes and pseudo-derivatives are kept for inspection.
    """

    def __init__(
        self,
        w_in: Synapses,
        w_rec: Synapses,
        w_out: Synapses,
        batch_size: int,
        generator: torch.Generator | None = None,
        p: LIFParameters = LIFParameters(),
        kappa: float = KAPPA,
    ) -> None:
        self.w_in, self.w_out, self.p, self.kappa = w_in, w_out, p, kappa
        self.rec = Synapses(
            no_self_connections(w_rec.weight),
            None if w_rec.read_var is None else no_self_connections(w_rec.read_var),
        )
        self.batch_size, self.generator = batch_size, generator
        self.reset()

    def reset(self) -> None:
        like = self.w_in.weight
        self.state = lif_initial_state(self.batch_size, self.rec.weight.shape[-1], like)
        self.y = like.new_zeros(self.batch_size, self.w_out.weight.shape[-1])
        self.spikes: list[torch.Tensor] = []
        self.psi: list[torch.Tensor] = []

    @torch.no_grad()
    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        """Advance 1 ms on input spikes ``x_t (B, 5)``; returns the outputs ``(B, 2)``."""
        g = self.generator
        current = F.read(x_t.unsqueeze(1), self.w_in.weight, self.w_in.read_var, g).squeeze(1)

        def recurrent(z: torch.Tensor) -> torch.Tensor:
            return F.read(z, self.rec.weight, self.rec.read_var, g)

        z, self.state, psi = lif_step(current, self.state, recurrent, self.p)
        self.y = self.kappa * self.y + F.read(z, self.w_out.weight, self.w_out.read_var, g)
        self.spikes.append(z)
        self.psi.append(psi)
        return self.y
