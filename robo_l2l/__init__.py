"""robo_l2l: learning-to-learn spiking arm controller on simulated PCM synapses.

Reproduces and extends Ortner et al., "Rapid learning with phase-change memory-based in-memory
computing through learning-to-learn", Nature Communications 16 (2025).

Importing the package registers the Gymnasium environment ``RoboL2L/ScorbotTrack-v0``
(:mod:`robo_l2l.envs`); neither torch nor PyBullet is imported until they are used.
"""

from robo_l2l.envs import register_envs as _register_envs

__version__ = "0.1.0"

_register_envs()
