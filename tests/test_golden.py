"""The inner loop reproduces the authors' golden fixtures (published checkpoint, PCM noise off)."""

import numpy as np
import pytest
import torch

from robo_l2l import tasks
from robo_l2l.functional import eprop
from robo_l2l.inner_loop import InnerRule, inner_loop
from robo_l2l.pcm import PCMConfig


def _fixture_tasks(golden) -> tasks.Trajectories:
    """The fixture's own task (its omega, q, xyz), so that the generator and the trainee are
    tested independently of our task pipeline (tested in test_task_pipeline_bit_exact)."""
    return tasks.Trajectories(*(torch.from_numpy(golden[k]) for k in ("omega", "q", "xyz")))


@pytest.fixture(scope="module")
def run(reference_weights, golden):
    cfg = PCMConfig(ideal=True, update_levels=16 if golden["quantized_update"] else 0)
    traj = _fixture_tasks(golden)
    result = inner_loop(reference_weights, traj, InnerRule(), cfg, torch.Generator().manual_seed(0))
    return golden, result


def test_generator_gets_the_fixture_target_code(golden):
    code = tasks.encode_target(_fixture_tasks(golden).xyz)
    np.testing.assert_array_equal(code.numpy(), golden["target_encoding"])


def test_task_pipeline_bit_exact(golden):
    """raw walk -> omega -> q -> FK -> 16-bit code reproduces the fixture bit for bit."""
    traj = tasks.trajectories_from_walk(torch.from_numpy(golden["raw_walk"]))
    for key in ("omega", "q", "xyz"):
        np.testing.assert_array_equal(getattr(traj, key).numpy(), golden[key])
    np.testing.assert_array_equal(tasks.encode_target(traj.xyz).numpy(), golden["target_encoding"])


def test_training_trial_bit_exact(run):
    d, r = run
    np.testing.assert_array_equal(r.before.spikes.numpy(), d["spikes_train"])
    np.testing.assert_array_equal(r.before.output.numpy(), d["y_train"])
    np.testing.assert_allclose(r.before.psi.numpy(), d["psi"], atol=1e-6)


def test_generator(run):
    d, r = run
    np.testing.assert_array_equal(r.generator_spikes.numpy(), d["spikes_lsg"])
    np.testing.assert_allclose(r.learning_signals.numpy(), d["learning_signals"], atol=2e-5)


def test_eprop_sums(run):
    d, r = run
    e_in, e_rec = eprop.eligibility_traces(tasks.clock_input(), r.before.spikes, np.exp(-1 / 20))
    for trace, key in ((e_in, "grad_w_in"), (e_rec, "grad_w_rec")):
        got = eprop.eprop_gradient(
            torch.from_numpy(d["learning_signals"]), torch.from_numpy(d["psi"]), trace
        ).numpy()
        scale = np.abs(d[key]).max()
        np.testing.assert_allclose(got / scale, d[key] / scale, atol=1e-6)


def test_test_trial_and_losses(run):
    """Achieved on both public fixtures: test-trial spikes and outputs bit-exact (0 of 249,000
    spikes differ, max |y - y*| = 0), losses after the update equal to the float64 digit, loss
    before within 9e-8 relative. The margins below (1e-6) only absorb float32 rounding of other
    BLAS builds in the outputs and losses; the spikes must match exactly."""
    d, r = run
    np.testing.assert_array_equal(r.after.spikes.numpy(), d["spikes_test"])
    np.testing.assert_allclose(r.after.output.numpy(), d["y_test"], atol=1e-6, rtol=0)
    assert r.loss_before.mean().item() == pytest.approx(float(d["task_loss_before"]), rel=1e-6)
    assert r.loss_after.mean().item() == pytest.approx(float(d["task_loss_after"]), rel=1e-6)
    total = (r.loss_after.mean() + r.regularizer).item()
    assert total == pytest.approx(float(d["total_loss_after"]), rel=1e-6)
