r"""The inner loop: learn a batch of new trajectories on the (simulated) chip.

One entry point, :func:`inner_loop`, used by the reference check, meta-training, evaluation and
the closed-loop demo. Given initial weights, a deployment (:class:`~robo_l2l.pcm.PCMConfig`), a
rule and a batch of tasks it

1. deploys the trainee's weights (one array per task),
2. runs a training trial on the clock input,
3. computes the update with e-prop:

   * ``natural`` (the paper): learning signals from the meta-learned generator,
     :math:`\Delta W = -\eta \sum_t L_t \psi_t e_t` for :math:`W_{in}, W_{rec}`;
   * ``readout``: the angular-velocity error is the learning signal of :math:`W_{out}`
     (:func:`robo_l2l.functional.eprop.readout_gradient`), the trace the filtered spikes,

4. writes the quantised update to the devices it changes, repeats 2-4 ``k_updates`` times,
5. runs the test trial and scores both trials.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from robo_l2l import pcm as pcm_model
from robo_l2l.controller import ControllerWeights
from robo_l2l.functional import eprop
from robo_l2l.functional.lif import LIFParameters
from robo_l2l.functional.readout import leaky_filter
from robo_l2l.losses import GENERATOR_RATE_HZ, TRAINEE_RATE_HZ, rate_regularizer, task_loss
from robo_l2l.network import KAPPA, Synapses, Trial, run_generator, run_trainee
from robo_l2l.pcm import DeployedMatrix, PCMConfig
from robo_l2l.tasks import Trajectories, clock_input, encode_target

RULES = ("natural", "readout")


@dataclass(frozen=True)
class InnerRule:
    """How the chip learns a new task.

    Attributes:
        kind: ``"natural"`` (generator learning signals, W_in and W_rec) or ``"readout"``
            (output-error learning signal, W_out only).
        k_updates: number of e-prop updates (>= 1).
        lr: inner learning rate; for ``readout`` the meta-learned ``readout_lr`` of the weights
            replaces it when present.
    """

    kind: str = "natural"
    k_updates: int = 1
    lr: float = 1e-4

    def __post_init__(self) -> None:
        if self.kind not in RULES:
            raise ValueError(f"unknown inner rule {self.kind!r}; choose one of {RULES}")
        if int(self.k_updates) != self.k_updates or self.k_updates < 1:
            raise ValueError(f"k_updates must be an integer >= 1, got {self.k_updates}")
        if not self.lr > 0:
            raise ValueError(f"inner learning rate must be > 0, got {self.lr}")


class InnerLoopResult(NamedTuple):
    """Everything the inner loop did, batch-first."""

    before: Trial  #: the first (training) trial
    after: Trial  #: the test trial after the last update
    learning_signals: torch.Tensor | None  #: generator output ``(B, T, 250)`` (natural rule)
    generator_spikes: torch.Tensor | None  #: ``(B, T, 800)``
    updates: dict[str, torch.Tensor]  #: applied (quantised) updates, summed over updates
    devices_written: torch.Tensor  #: ``(K, B)`` devices written per update and task
    loss_before: torch.Tensor  #: task loss of the training trial ``(B,)``
    loss_after: torch.Tensor  #: task loss of the test trial ``(B,)``
    losses: torch.Tensor  #: task loss after 0..K updates ``(K + 1, B)``
    update_levels: torch.Tensor  #: ``(B,)`` sum of |dW| in quantisation steps, all updates
    #: (differentiable; a proxy for device writes that meta-training can penalise)
    regularizer: torch.Tensor  #: rate regularisers, trainee over all trials + generator (scalar)
    deployed: dict[str, DeployedMatrix]  #: the arrays after the last update
    initial: dict[str, DeployedMatrix]  #: the arrays as first deployed


def _synapses(m: DeployedMatrix) -> Synapses:
    return Synapses(m.weight, None if m.read_std is None else m.read_std**2)


def readout_learning_signal(output: torch.Tensor, target_omega: torch.Tensor) -> torch.Tensor:
    """Per-task gradient of :math:`\\mathrm{MSE}(\\omega^{out}, \\omega^*)` w.r.t. the outputs."""
    n = output.shape[1] * output.shape[2]
    return 2.0 * (output - target_omega) / n


def inner_loop(
    weights: ControllerWeights,
    tasks: Trajectories,
    rule: InnerRule,
    pcm: PCMConfig,
    generator: torch.Generator,
    neuron: LIFParameters = LIFParameters(),
    task_mean: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ages: torch.Tensor | None = None,
) -> InnerLoopResult:
    """Learn ``tasks`` on the chip with ``rule`` under deployment ``pcm`` (see module doc).

    All random draws (device noise) come from ``generator`` (a ``torch.Generator``, or one per
    task: :class:`robo_l2l.functional.draws.PerTask`); the function is differentiable w.r.t.
    ``weights`` (straight-through for clipping and quantisation). ``task_mean`` pools the rate
    regulariser over a meta-batch split across processes (see :mod:`robo_l2l.distributed`).
    ``ages`` ``(B,)`` (s): each task's arrays are read that long after programming instead of
    ``pcm.t_inference_s`` (meta-training over device ages).
    """
    if not isinstance(rule, InnerRule):
        raise TypeError(f"rule must be an InnerRule, got {type(rule).__name__}")
    if not isinstance(pcm, PCMConfig):
        raise TypeError(f"deployment must be a PCMConfig, got {type(pcm).__name__}")
    weights.check(rule.kind)
    batch_size, n_steps = tasks.omega.shape[:2]
    dtype, device = weights.w_in.dtype, weights.w_in.device
    tasks = tasks.to(device, dtype)
    clock = clock_input(n_steps, dtype).to(device)

    arrays = {
        name: pcm_model.deploy(getattr(weights, name), batch_size, pcm, generator, ages)
        for name in ("w_in", "w_rec", "w_out")
    }

    initial = dict(arrays)

    def trial() -> Trial:
        return run_trainee(
            clock,
            _synapses(arrays["w_in"]),
            _synapses(arrays["w_rec"]),
            _synapses(arrays["w_out"]),
            batch_size,
            generator,
            neuron,
        )

    learning_signals = generator_spikes = None
    if rule.kind == "natural":
        lsg_inputs = torch.cat((clock.expand(batch_size, -1, -1), encode_target(tasks.xyz)), -1)
        lsg = run_generator(lsg_inputs, weights.lsg_w_in, weights.lsg_w_rec, weights.lsg_w_out)
        learning_signals, generator_spikes = lsg.learning_signal, lsg.spikes
        targets = ("w_in", "w_rec")
        lr = rule.lr
    else:
        targets = ("w_out",)
        lr = rule.lr if weights.readout_lr is None else weights.readout_lr
    # Without read noise the spikes do not depend on W_out: the readout rule reruns only it.
    reuse_spikes = rule.kind == "readout" and (pcm.ideal or not pcm.read_noise)

    current = trial()
    first = current
    trials_losses = [task_loss(current.output, tasks)]
    trial_spikes = [current.spikes]
    levels = torch.zeros(batch_size, dtype=dtype, device=device)
    written, applied = [], {name: torch.zeros_like(arrays[name].target) for name in targets}
    for _ in range(rule.k_updates):
        if rule.kind == "natural":
            e_in, e_rec = eprop.eligibility_traces(clock, current.spikes, neuron.alpha)
            grads = {
                "w_in": eprop.eprop_gradient(learning_signals, current.psi, e_in),
                "w_rec": eprop.eprop_gradient(learning_signals, current.psi, e_rec),
            }
        else:
            signal = readout_learning_signal(current.output, tasks.omega)
            grads = {"w_out": eprop.readout_gradient(signal, leaky_filter(current.spikes, KAPPA))}
        n_written = torch.zeros(batch_size, dtype=torch.long, device=device)
        for name in targets:
            result = pcm_model.apply_update(arrays[name], -lr * grads[name], pcm, generator)
            arrays[name] = result.matrix
            applied[name] = applied[name] + result.update
            n_written = n_written + result.written.sum((-2, -1))
            step = arrays[name].scale / max(pcm.update_levels, 1)
            levels = levels + (result.update.abs() / step).sum((-2, -1))
        written.append(n_written)
        if reuse_spikes:
            out = leaky_filter(torch.matmul(current.spikes, arrays["w_out"].weight), KAPPA)
            current = Trial(current.spikes, current.psi, out)
        else:
            current = trial()
        trials_losses.append(task_loss(current.output, tasks))
        trial_spikes.append(current.spikes)

    # As the reference: the trainee's rate is pooled over all its trials (training and test).
    reg = rate_regularizer(torch.cat(trial_spikes, 1), TRAINEE_RATE_HZ, task_mean=task_mean)
    if generator_spikes is not None:
        reg = reg + rate_regularizer(generator_spikes, GENERATOR_RATE_HZ, task_mean=task_mean)
    losses = torch.stack(trials_losses)
    return InnerLoopResult(
        before=first,
        after=current,
        learning_signals=learning_signals,
        generator_spikes=generator_spikes,
        updates=applied,
        devices_written=torch.stack(written),
        loss_before=losses[0],
        update_levels=levels,
        loss_after=losses[-1],
        losses=losses,
        regularizer=reg,
        deployed=arrays,
        initial=initial,
    )
