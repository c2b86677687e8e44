"""Pure, stateless building blocks: kinematics, neuron steps, e-prop, PCM device stages."""
