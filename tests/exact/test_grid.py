"""Gridding spike times and counting them."""

import torch
from support import dense_reference

from lif import exact
from lif.kernels import ExponentialKernel


def test_spike_counts_inside_the_window():
    times = torch.tensor([[[-1.0, 2.0, 99.2], [5.0, 6.0, float("nan")], [100.0, float("inf"), 0.0]]])
    assert exact.spike_counts(times, 1.0, 100).tolist() == [[1, 2, 1]]  # 99.2 enters at step 100: outside
    raster = torch.zeros(1, 10, 2, dtype=torch.bool)
    raster[0, [1, 4, 9], 0] = True
    assert exact.spike_counts(raster, 1.0, 10).tolist() == [[3, 0]]


def test_both_backends_grid_float32_spike_times_alike():
    # Times near grid points in float32: t/dt computed in float32 and in float64 differ in the
    # last bit and could enter at neighbouring steps; both backends grid in float64.
    kernel = ExponentialKernel(10.0)  # K(0) = 1: entering one step late would be visible
    times = torch.tensor([[0.3, 1.1, 4.9, 7.7, 12.1]], dtype=torch.float32)
    weights = torch.ones(5, 1)
    compiled = exact.max_voltage(times, weights, kernel, 0.1, 200, backend="compiled")
    tensors = exact.max_voltage(times, weights, kernel, 0.1, 200, backend="torch")
    torch.testing.assert_close(compiled, tensors)
    reference = dense_reference(times.double(), weights.double(), kernel, 0.1, 200)
    torch.testing.assert_close(compiled[0].double(), reference.max(dim=1).values, rtol=0, atol=1e-5)
