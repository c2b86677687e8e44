"""Meta-training configuration: one dataclass, named presets, command-line overrides.

Field docstrings are the ``--help`` text of ``scripts/train.py`` (read from the source with
:mod:`ast`, as Python keeps no attribute docstrings at run time).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import os
import textwrap
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from robo_l2l import deployment as dep
from robo_l2l.inner_loop import RULES
from robo_l2l.pcm import PCMConfig

REGIMES = ("hardware", "software", "agnostic")
ARITHMETICS = dep.ARITHMETICS
READOUT_LR_MODES = ("scalar", "per_synapse")
MAX_SEED = 2**32 - 1  #: every generator seed derived from a run's seed fits torch's 64 bits
DEVICES = ("cpu", "cuda")
DRAWS = ("task", "batch")


@dataclass(frozen=True)
class MetaConfig:
    """Everything that defines a meta-training run (saved as config.json)."""

    rule: str = "natural"
    """Inner rule: natural (generator learning signals, W_in/W_rec, the paper) or readout
    (output-error e-prop on W_out only)."""
    k_updates: int = 1
    """Inner e-prop updates per task (>= 1)."""
    regime: str = "hardware"
    """hardware: PCM model in the loop (straight-through); software: ideal weights; agnostic:
    generic perturbations only, no PCM model (per-matrix scale, agnostic_weight_noise on every
    written weight, updates rounded to the deployment's update levels)."""
    deployment: PCMConfig = field(default_factory=PCMConfig)
    """The PCM deployment (arithmetic, device age, drift compensation, update levels, noise):
    in the loop when hardware-aware, and for validation and evaluation."""
    batch_size: int = 90
    """Tasks per meta-iteration."""
    iterations: int = 100_000
    """Meta-iterations (outer Adam steps)."""
    lr: float = 1.5e-3
    """Outer Adam learning rate."""
    lr_decay: float = 0.99
    """Multiply the outer learning rate by this every lr_decay_every iterations."""
    lr_decay_every: int = 500
    """Iterations between learning-rate decays."""
    inner_lr: float = 1e-4
    """Initial inner learning rate (natural: eta; readout: starting value of the meta-learned
    rate)."""
    readout_lr_mode: str = "scalar"
    """Readout rule: meta-learn one inner learning rate (scalar) or one per synapse."""
    seed: int = 0
    """Seed of weights, task batches and device noise."""
    device: str = "cpu"
    """cpu or cuda."""
    threads: int = 0
    """torch CPU threads (0: torch default; scripts default to 1, see robo_l2l.cli)."""
    validate_every: int = 100
    """Iterations between held-out validations (and checkpoints)."""
    val_batches: int = 1
    """Held-out batches per validation."""
    val_batch_size: int = 32
    """Tasks per held-out batch."""
    grad_clip: float = 0.0
    """Clip the meta-gradient to this global norm (0: off)."""
    write_cost: float = 0.0
    """Meta-loss weight per quantisation step of |dW| written per task (a differentiable proxy
    for the number of devices reprogrammed; 0: off)."""
    tip_weight: float = 0.0
    """Extra meta-loss weight on the tool-tip path of the test trial: tip_weight x MSE of the
    tool-tip position (m^2), the network's angular velocities integrated and mapped through the
    differentiable kinematics (on top of the 0.5 x MSE(FK) in the reference's task loss; 0:
    the reference's meta-loss). About 0.005 m^2 for a path 70 mm off."""
    age_min_s: float = 0.0
    """Hardware regime: shortest device age (s) of meta-training over ages; every task is read
    at its own age, log-uniform on [age_min_s, age_max_s] (both 0: every task at the
    deployment's t_inference; the presets *_ages use 1 s to 1 year)."""
    age_max_s: float = 0.0
    """Hardware regime: longest device age (s) of meta-training over ages (see age_min_s)."""
    agnostic_weight_noise: float = 0.03
    """Agnostic regime: std of the Gaussian error of every written weight, as a fraction of its
    matrix's scale."""
    draws: str = "task"
    """How an iteration's random numbers are keyed: task (each task's trajectory and device
    noise from generators keyed by seed, iteration and the task's index: a meta-batch split
    over torchrun processes gives the same numbers) or batch (one generator pair for the whole
    batch, how runs were trained before this field existed; one process only)."""

    def __post_init__(self) -> None:
        checks = [
            (self.rule in RULES, f"unknown rule {self.rule!r}; choose one of {RULES}"),
            (self.regime in REGIMES, f"unknown regime {self.regime!r}; choose one of {REGIMES}"),
            (
                isinstance(self.deployment, PCMConfig),
                f"deployment must be a PCMConfig, got {type(self.deployment).__name__}",
            ),
            (
                self.readout_lr_mode in READOUT_LR_MODES,
                f"unknown readout_lr_mode {self.readout_lr_mode!r}; "
                f"choose one of {READOUT_LR_MODES}",
            ),
            (self.device in DEVICES, f"unknown device {self.device!r}; choose one of {DEVICES}"),
            (self.draws in DRAWS, f"unknown draws {self.draws!r}; choose one of {DRAWS}"),
            (self.k_updates >= 1, f"k_updates must be >= 1, got {self.k_updates}"),
            (
                0 <= self.seed <= MAX_SEED,
                f"seed must be in [0, {MAX_SEED}] (generator seeds derive from it), got {self.seed}",
            ),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.iterations >= 1, f"iterations must be >= 1, got {self.iterations}"),
            (self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (0 < self.lr_decay <= 1, f"lr_decay must be in (0, 1], got {self.lr_decay}"),
            (self.lr_decay_every >= 1, f"lr_decay_every must be >= 1, got {self.lr_decay_every}"),
            (self.inner_lr > 0, f"inner_lr must be > 0, got {self.inner_lr}"),
            (self.validate_every >= 1, f"validate_every must be >= 1, got {self.validate_every}"),
            (self.val_batches >= 1, f"val_batches must be >= 1, got {self.val_batches}"),
            (self.val_batch_size >= 1, f"val_batch_size must be >= 1, got {self.val_batch_size}"),
            (self.grad_clip >= 0, f"grad_clip must be >= 0, got {self.grad_clip}"),
            (self.threads >= 0, f"threads must be >= 0, got {self.threads}"),
            (self.write_cost >= 0, f"write_cost must be >= 0, got {self.write_cost}"),
            (self.tip_weight >= 0, f"tip_weight must be >= 0, got {self.tip_weight}"),
            (
                0 <= self.agnostic_weight_noise < 1,
                f"agnostic_weight_noise must be in [0, 1), got {self.agnostic_weight_noise}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        if self.age_range is not None:
            dep.check_age_range(*self.age_range, self.deployment.t0_s)
            if self.regime != "hardware" or self.deployment.ideal:
                raise ValueError(
                    "a device-age range (age_min_s, age_max_s) needs the hardware regime on PCM"
                )

    @property
    def age_range(self) -> tuple[float, float] | None:
        """``(age_min_s, age_max_s)`` of meta-training over device ages, or ``None`` (off).

        Raises ``ValueError`` when only one of the two is given."""
        if self.age_min_s == 0 and self.age_max_s == 0:
            return None
        if self.age_min_s == 0 or self.age_max_s == 0:
            raise ValueError(
                "give both age_min_s and age_max_s (s) for meta-training over device ages, got "
                f"{self.age_min_s:g} and {self.age_max_s:g}"
            )
        return self.age_min_s, self.age_max_s

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @property
    def pcm_arithmetic(self) -> str:
        """``reference`` or ``per_matrix``: the arithmetic of the deployment."""
        return "reference" if self.deployment.reference_arithmetic else "per_matrix"

    @staticmethod
    def from_dict(values: dict[str, Any]) -> MetaConfig:
        """A config from ``config.json`` / checkpoint metadata (or a preset).

        Configs written before ``deployment`` existed give ``pcm_arithmetic`` only; it maps to
        the deployment as it did then (:func:`robo_l2l.deployment.legacy_deployment`). Configs
        written before ``draws`` existed drew per batch, and keep doing so.
        """
        if not isinstance(values, dict):
            raise ValueError(f"a config must be a JSON object, got {type(values).__name__}")
        values = dict(values)
        known = {f.name for f in fields(MetaConfig)}
        unknown = set(values) - known - {"pcm_arithmetic"}
        if unknown:
            raise ValueError(f"unknown config fields {sorted(unknown)}")
        arithmetic = values.pop("pcm_arithmetic", None)
        deployment = values.get("deployment")
        if isinstance(deployment, dict):
            deployment = dep.from_dict(deployment)
        if deployment is None:
            deployment = dep.legacy_deployment(arithmetic or "per_matrix")
        elif arithmetic is not None:
            deployment = dep.with_arithmetic(deployment, arithmetic)
        values["deployment"] = deployment
        values.setdefault("draws", "batch")
        return MetaConfig(**values)


_AGES = {"age_min_s": dep.AGE_RANGE_S[0], "age_max_s": dep.AGE_RANGE_S[1]}
_COMPENSATED = {"deployment": {"drift_compensation": True}}


PRESETS: dict[str, dict[str, Any]] = {
    # The paper's scale: batch 90, 100k iterations (a GPU job).
    "paper": {},
    # Fits 2 CPU cores: a useful readout-rule controller in about 30 minutes.
    "quick": {
        "rule": "readout",
        "k_updates": 5,
        "batch_size": 16,
        "iterations": 800,
        "lr": 3e-3,
        "lr_decay_every": 100,
        "inner_lr": 3e-3,
        "validate_every": 50,
        "val_batch_size": 32,
    },
    # The paper's natural e-prop on 2 CPU cores: held-out 0.107 in ~5 min, 0.05 in ~20 min
    # (results/natural_hw_cpu: 1050 iterations).
    "quick_natural": {
        "batch_size": 16,
        "iterations": 1050,
        "lr": 1e-3,
        "grad_clip": 1.0,
        "validate_every": 50,
    },
}
# Meta-training over device ages (1 s to 1 year, log-uniform per task), global drift
# compensation on; the same runs without it: --no-drift-compensation.
PRESETS["quick_ages"] = {**PRESETS["quick"], **_AGES, **_COMPENSATED}
PRESETS["quick_natural_ages"] = {**PRESETS["quick_natural"], **_AGES, **_COMPENSATED}


def field_docs(cls: type = MetaConfig) -> dict[str, str]:
    """The docstring under each field of a dataclass, from its source."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def build_parser(description: str) -> argparse.ArgumentParser:
    """``--preset``/``--config`` plus one ``--field`` option per config field (``--help`` from
    docstrings) and the deployment flags of :mod:`robo_l2l.cli`."""
    from robo_l2l import cli

    parser = cli.Parser(description=description)
    parser.add_argument(
        "--preset", default=None, help=f"named defaults: {', '.join(PRESETS)} (default quick)"
    )
    parser.add_argument(
        "--config",
        type=str,
        default=None,
        metavar="PATH",
        help="a run's config.json: reproduce that run (options given here override it)",
    )
    docs = field_docs()
    for f in fields(MetaConfig):
        if f.name == "deployment":
            continue
        kind = type(f.default)
        parser.add_argument(
            f"--{f.name.replace('_', '-')}",
            dest=f.name,
            type=kind,
            default=None,
            help=f"{docs.get(f.name, '')} (default: from the preset; paper {f.default})",
        )
    parser.add_argument(
        "--pcm-arithmetic",
        choices=ARITHMETICS,
        default=None,
        help="PCM mapping: per_matrix (each matrix its own scale) or reference (the authors')",
    )
    cli.add_deployment_flags(parser)
    return parser


def load_config_file(path: str | os.PathLike) -> dict[str, Any]:
    """The fields of a ``config.json`` (checked later by :meth:`MetaConfig.from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        values = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not a JSON config: {exc}") from exc
    if not isinstance(values, dict):
        raise ValueError(f"{path} is not a JSON object")
    return values


def config_from_args(args: argparse.Namespace) -> MetaConfig:
    """Preset (or ``--config`` file) defaults overridden by every option given."""
    from robo_l2l import cli

    if args.config is not None and args.preset is not None:
        raise ValueError("--config and --preset both give defaults; choose one")
    if args.config is not None:
        values = load_config_file(args.config)
    else:
        preset = args.preset or "quick"
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {list(PRESETS)}")
        values = dict(PRESETS[preset])
        values.setdefault("draws", MetaConfig.draws)  # a new run, not a legacy config
    for f in fields(MetaConfig):
        given = getattr(args, f.name, None)
        if given is not None:
            values[f.name] = given
    if args.pcm_arithmetic is not None:
        values["pcm_arithmetic"] = args.pcm_arithmetic
    cfg = MetaConfig.from_dict(values)
    deployment = cli.deployment_from_args(args, cfg.deployment)
    return dataclasses.replace(cfg, deployment=deployment)
