"""The compiled kernel's own parts against independent truth (numpy's exp, the torch gridding)."""

import math

import numpy as np
import pytest
import torch

from lif import exact
from lif.exact import compiled
from lif.kernels import DoubleExponentialKernel


@pytest.mark.parametrize("tau", [0.3, 1.0, 3.75, 15.0, 200.0])
def test_the_polynomial_exponential_is_exact_to_a_few_ulp(tau):
    log_decay = np.array([-1.0 / tau])
    squarings = compiled.exp_squarings(log_decay)
    fractions = np.linspace(0.0, 1.0, 10_001)[:-1]  # every delay the grid can produce, in steps
    approximate = np.array([compiled._exp_small(f * log_decay[0] * 0.5 ** squarings[0], squarings[0]) for f in fractions])
    exact = np.exp(fractions * log_decay[0])
    assert np.max(np.abs(approximate / exact - 1)) < 8 * np.finfo(np.float64).eps * (1 + squarings[0])


def test_a_decay_too_fast_for_the_polynomial_uses_exp():
    kernel = DoubleExponentialKernel(2.0, 0.1)  # tau_s = 0.1 ms with dt = 1 ms: e^-10 per step
    times = torch.tensor([[0.3, 2.7, 5.5]], dtype=torch.float64)
    weights = torch.ones(3, 1, dtype=torch.float64)
    compiled_max = exact.max_voltage(times, weights, kernel, 1.0, 20, backend="compiled")[0]
    torch_max = exact.max_voltage(times, weights, kernel, 1.0, 20, backend="torch")[0]
    torch.testing.assert_close(compiled_max, torch_max)


def test_gridding_matches_the_torch_gridding():
    kernel = DoubleExponentialKernel()
    times = torch.tensor([[[0.0, 1.0, 1.25], [-0.4, -7.3, 499.2], [499.0, 500.0, math.inf], [math.nan, -math.inf, 3.999]]], dtype=torch.float64)
    reference = exact.grid_spikes(times, kernel, 1.0, 500, torch.float64)
    log_decays = np.log(np.asarray(kernel.decays(1.0)))
    steps = np.empty(12, dtype=np.int32)
    phases = np.empty((2, 12))
    compiled._grid_pattern(times.reshape(-1).numpy(), 1.0, 499.0, log_decays, compiled.exp_squarings(log_decays), steps, phases, np.empty(12))
    dropped = steps < 0
    assert dropped.tolist() == [False, False, False, False, False, True, False, True, True, True, True, False]
    np.testing.assert_array_equal(steps[~dropped], reference.step.reshape(-1).numpy()[~dropped])
    np.testing.assert_allclose(phases[:, ~dropped], reference.phase.reshape(2, -1).numpy()[:, ~dropped], rtol=1e-14)
