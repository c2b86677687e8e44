"""Few-shot image classification on PCM: a CNN meta-trained with MAML whose readout learns new
Omniglot classes on the chip (the paper's second system; facts in shared/reference/FEWSHOT.md)."""
