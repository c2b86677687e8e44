"""benchmarks/bench_fewshot.py: the work it counts for the PCM episode's floor."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_fewshot  # noqa: E402

from robo_l2l.fewshot import cnn  # noqa: E402


def _blocks(images: int) -> list[torch.Size]:
    params = cnn.init_params(torch.Generator().manual_seed(0))
    acts: list[torch.Tensor] = []
    cnn.features(torch.rand(1, images, 28, 28), [params[k] for k in cnn.KERNELS], activations=acts)
    return [a.shape for a in acts]  # (B, n, C, H, W) per block


def test_counted_work_is_that_of_the_network():
    images, passes = 25, 9
    macs = draws = 0
    c_in = 1
    for layer, shape in enumerate(_blocks(images)):
        outputs = shape[1] * shape[2] * shape[3] * shape[4]
        draws += passes * outputs  # one Gaussian per output and pass
        reads = 2 if layer == 0 else passes  # layer 1: once per image set (support, query)
        macs += 2 * reads * outputs * 9 * c_in  # conv(x, w) and conv(x^2, sigma^2)
        c_in = shape[2]
    assert bench_fewshot.conv_read_draws(passes, images) == draws
    assert bench_fewshot.conv_products_macs(passes, images) == macs
