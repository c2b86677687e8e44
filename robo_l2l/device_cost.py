r"""What an on-chip update and a trial cost: device writes, SET/RESET pulses, reads, energy.

**Pulse scheme** (ours; the model of :mod:`robo_l2l.pcm` writes a device's new conductance
directly). A weight is a differential pair :math:`w \propto G^+ - G^-` with one active device
(:math:`G^+` for :math:`w > 0`, :math:`G^-` for :math:`w < 0`, the other at zero). Writing a
weight reprograms its active device by iterative program-and-verify: one RESET pulse (melt-quench
to the low-conductance state), then ``set_iterations`` partial SET pulses, each followed by a
verify read. When the weight changes sign the formerly active device is RESET as well (one more
RESET pulse). A weight written to exactly zero needs only that RESET.

**Energies** (cited values; change them for another technology):

* ``reset_pj = 19.2``, ``set_pj = 13.5`` pJ per pulse and ``read_pj = 2.0`` pJ per verify read:
  the PCM cell of B. C. Lee, E. Ipek, O. Mutlu, D. Burger, "Architecting phase change memory as
  a scalable DRAM alternative", ISCA 2009 (90 nm; the read energy is also NVSim's sample PCRAM
  cell, generated from that paper: github.com/SEAL-UCSB/NVSim, sample_PCRAM.cell).
* ``analog_mac_pj = 0.806`` pJ per multiply-accumulate of an analog in-memory matrix-vector
  product: 2.48 TOPS/W (1 MAC = 2 operations) of IBM's 64-core PCM chip for 8-bit MVMs in its
  high-precision four-phase read mode, M. Le Gallo et al., "A 64-core mixed-signal in-memory
  compute chip based on phase-change memory for deep neural network inference", Nature
  Electronics 6, 680-693 (2023).
* ``digital_mac_pj = 4.6`` pJ per float32 multiply-accumulate (3.7 pJ multiply + 0.9 pJ add,
  45 nm): M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014.
  The digital baseline computes the same products in float32 on a CPU/MCU and counts only the
  arithmetic (no memory traffic: an optimistic baseline).

Per trial the chip computes, every 1 ms step, the products of the trainee's input, recurrent
and readout matrices: :math:`T (5 \cdot 250 + 250 \cdot 250 + 250 \cdot 2)` MACs, counted dense
(a crossbar reads every device of a driven row; silent inputs are not skipped). The update's
digital arithmetic (the e-prop gradient of the rule) is counted for both: its MACs at
``digital_mac_pj``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from robo_l2l.pcm import DeployedMatrix


@dataclass(frozen=True)
class PulseScheme:
    """Program-and-verify of a differential PCM pair and the energies per event (pJ)."""

    set_iterations: int = 10
    """Partial SET pulses (each with a verify read) per written device."""
    reset_pj: float = 19.2
    set_pj: float = 13.5
    read_pj: float = 2.0
    analog_mac_pj: float = 0.806
    digital_mac_pj: float = 4.6

    def __post_init__(self) -> None:
        if int(self.set_iterations) != self.set_iterations or self.set_iterations < 1:
            raise ValueError(f"set_iterations must be an integer >= 1, got {self.set_iterations}")
        for name in ("reset_pj", "set_pj", "read_pj", "analog_mac_pj", "digital_mac_pj"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


def update_pulses(
    initial: dict[str, DeployedMatrix],
    final: dict[str, DeployedMatrix],
    devices_written: torch.Tensor,
    scheme: PulseScheme = PulseScheme(),
) -> dict[str, torch.Tensor]:
    """Pulses and reads per task ``(B,)`` of the on-chip updates that took the arrays from
    ``initial`` to ``final``.

    ``devices_written (B,)``: writes summed over the updates (each write is one
    program-and-verify). Sign changes (one extra RESET each) and weights written to exactly zero
    (RESET only) are counted between the first and the last state: a weight that changes sign
    and back within K updates is missed, so for K > 1 the RESET count is a lower bound.
    """
    flips = torch.zeros_like(devices_written)
    zeros = torch.zeros_like(devices_written)
    for name, before in initial.items():
        old, new = before.target.detach(), final[name].target.detach()
        if old.shape != new.shape:
            raise ValueError(
                f"{name}: arrays differ in shape {tuple(old.shape)}, {tuple(new.shape)}"
            )
        written = new != old
        flipped = written & (old != 0) & (new != 0) & (torch.sign(new) != torch.sign(old))
        # the counts go where devices_written is (the arrays may be on a GPU, the counts not)
        flips = flips + flipped.sum((-2, -1)).to(flips.device)
        zeros = zeros + (written & (new == 0)).sum((-2, -1)).to(zeros.device)
    programmed = devices_written - zeros
    sets = programmed * scheme.set_iterations
    return {
        "written": devices_written,
        "resets": devices_written + flips,
        "sets": sets,
        "verify_reads": sets,
    }


def update_energy_nj(pulses: dict[str, torch.Tensor], scheme: PulseScheme = PulseScheme()):
    """Programming energy (nJ) of :func:`update_pulses`' counts."""
    pj = (
        pulses["resets"] * scheme.reset_pj
        + pulses["sets"] * scheme.set_pj
        + pulses["verify_reads"] * scheme.read_pj
    )
    return pj.double() / 1000.0


def trial_macs(n_steps: int, shapes=((5, 250), (250, 250), (250, 2))) -> int:
    """Multiply-accumulates of one trial of the trainee (dense crossbar reads)."""
    return int(n_steps) * sum(n * m for n, m in shapes)


def readout_update_macs(n_steps: int, n: int = 250, m: int = 2) -> int:
    """MACs of one readout e-prop update: filtered spikes x output error over the trial."""
    return int(n_steps) * n * m


def natural_update_macs(n_steps: int, n: int = 250, n_in: int = 5) -> int:
    """MACs of one natural e-prop update of W_in and W_rec (learning signal x pseudo-derivative
    x eligibility trace, summed over the trial)."""
    return int(n_steps) * n * (n + n_in) * 2


def summary(
    pulses: dict[str, torch.Tensor],
    n_steps: int,
    n_trials: int,
    update_macs: int,
    scheme: PulseScheme = PulseScheme(),
) -> dict[str, float]:
    """Per-task means: devices written, pulses, programming energy; per trial the MVM energy on
    the chip and on a digital float32 baseline; the update's arithmetic."""
    macs = trial_macs(n_steps)
    return {
        "devices_written": float(pulses["written"].double().mean()),
        "reset_pulses": float(pulses["resets"].double().mean()),
        "set_pulses": float(pulses["sets"].double().mean()),
        "verify_reads": float(pulses["verify_reads"].double().mean()),
        "programming_energy_nj": float(update_energy_nj(pulses, scheme).mean()),
        "trial_macs": float(macs),
        "trial_energy_analog_nj": macs * scheme.analog_mac_pj / 1000.0,
        "trial_energy_digital_nj": macs * scheme.digital_mac_pj / 1000.0,
        "trials": float(n_trials),
        "update_macs": float(update_macs),
        "update_arithmetic_nj": update_macs * scheme.digital_mac_pj / 1000.0,
    }


def of_inner_loop(result, rule: str, k_updates: int, scheme: PulseScheme = PulseScheme()):
    """:func:`summary` of an :class:`~robo_l2l.inner_loop.InnerLoopResult` (per task means)."""
    n_steps = result.before.output.shape[1]
    per_update = readout_update_macs(n_steps) if rule == "readout" else natural_update_macs(n_steps)
    pulses = update_pulses(
        result.initial, result.deployed, result.devices_written.sum(0).cpu(), scheme
    )
    return summary(pulses, n_steps, k_updates + 1, k_updates * per_update, scheme)
