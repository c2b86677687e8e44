"""robo_l2l: learning-to-learn spiking arm controller on simulated PCM synapses.

Reproduces and extends Ortner et al., "Rapid learning with phase-change memory-based in-memory
computing through learning-to-learn", Nature Communications 16 (2025).
"""

__version__ = "0.1.0"
