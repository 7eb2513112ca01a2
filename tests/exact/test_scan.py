"""The exact projection-first voltage traces against independent references."""


import pytest
import torch
from support import dense_reference, formula

from lif import exact
from lif.kernels import DoubleExponentialKernel, ExponentialKernel


@pytest.mark.parametrize("dt", [1.0, 0.5, 0.25, 0.1])
@pytest.mark.parametrize("tau_m, tau_s", [(15.0, 3.75), (20.0, 2.0), (8.0, 7.0)])
@pytest.mark.parametrize("spike", [0.0, 13.0, 13.37, 99.99])
def test_one_spike_reproduces_the_continuous_kernel_on_the_grid(dt, tau_m, tau_s, spike):
    kernel = DoubleExponentialKernel(tau_m, tau_s)
    num_steps = round(200.0 / dt)
    weights = torch.ones(1, 1, dtype=torch.float64)
    trace = exact.voltage(torch.tensor([[spike]], dtype=torch.float64), weights, kernel, dt, num_steps)
    expected = [formula(k * dt, spike, tau_m, tau_s, kernel.v_0) for k in range(num_steps)]
    assert trace[0, :, 0].tolist() == pytest.approx(expected, abs=1e-12)


def test_many_spikes_sum_their_kernels_in_float32_too():
    kernel = DoubleExponentialKernel(15.0, 3.75)
    spikes = [2.0, 2.5, 10.0, 41.3, 41.3, 120.9]
    weights = torch.tensor([[0.3], [-0.7], [1.1], [0.2], [0.5], [-0.4]])
    times = torch.tensor([spikes])
    trace = exact.voltage(times, weights, kernel, 0.5, 300, v_rest=-0.25)
    expected = [
        -0.25 + sum(w * formula(k * 0.5, s, 15.0, 3.75, kernel.v_0) for w, s in zip(weights[:, 0].tolist(), spikes))
        for k in range(300)
    ]
    assert trace[0, :, 0].tolist() == pytest.approx(expected, abs=2e-6)


@pytest.mark.parametrize("kernel", [DoubleExponentialKernel(15.0, 3.75), ExponentialKernel(10.0)])
@pytest.mark.parametrize("spikes_per_afferent, num_outputs", [(1, 1), (1, 10), (3, 2)])
def test_voltage_equals_the_dense_reference(kernel, spikes_per_afferent, num_outputs):
    generator = torch.Generator().manual_seed(7)
    batch, num_inputs, num_steps, dt = 6, 40, 257, 1.0  # 257: not a whole number of scan chunks
    times = torch.rand(batch, num_inputs, spikes_per_afferent, generator=generator) * 300 - 20
    weights = torch.randn(num_inputs, num_outputs, generator=generator) * 0.3
    trace = exact.voltage(times, weights, kernel, dt, num_steps, v_rest=0.1)
    reference = dense_reference(times.double(), weights.double(), kernel, dt, num_steps, v_rest=0.1)
    assert trace.shape == (batch, num_steps, num_outputs)
    torch.testing.assert_close(trace.double(), reference, rtol=0, atol=2e-5)


def test_spikes_outside_the_window_or_missing_change_nothing():
    kernel = DoubleExponentialKernel()
    weights = torch.tensor([[1.0], [5.0], [5.0], [5.0]], dtype=torch.float64)
    times = torch.tensor([[10.0, 100.0, float("inf"), float("nan")]], dtype=torch.float64)  # T = 100
    trace = exact.voltage(times, weights, kernel, 1.0, 100)
    alone = exact.voltage(times[:, :1], weights[:1], kernel, 1.0, 100)
    assert torch.equal(trace, alone)


def test_raster_and_spike_times_of_the_same_spikes_agree():
    kernel = DoubleExponentialKernel()
    times = torch.tensor([[3.0, 17.0, float("inf")]], dtype=torch.float64)
    raster = torch.zeros(1, 50, 3, dtype=torch.bool)
    raster[0, 3, 0] = raster[0, 17, 1] = True
    weights = torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(
        exact.voltage(raster, weights, kernel, 1.0, 50), exact.voltage(times, weights, kernel, 1.0, 50)
    )


@pytest.mark.parametrize("raster", [False, True])
def test_mean_voltage_is_the_average_of_the_trace(raster):
    generator = torch.Generator().manual_seed(4)
    kernel = DoubleExponentialKernel(12.0, 3.0)
    if raster:
        inputs = torch.rand(4, 80, 20, generator=generator) < 0.05
    else:
        inputs = torch.rand(4, 20, 2, generator=generator, dtype=torch.float64) * 100 - 10  # some before 0, some after T
    weights = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    trace = exact.voltage(inputs, weights, kernel, 0.5 if not raster else 1.0, 160 if not raster else 80, v_rest=0.3)
    mean = exact.mean_voltage(inputs, weights, kernel, 0.5 if not raster else 1.0, 160 if not raster else 80, v_rest=0.3)
    torch.testing.assert_close(mean, trace.mean(dim=1))


@pytest.mark.parametrize("spikes_per_afferent", [1, 3])
def test_both_projections_of_spike_times_agree_with_the_dense_reference(spikes_per_afferent):
    # many outputs and few steps: the phase raster times the weights; few outputs: the scatter of weights
    generator = torch.Generator().manual_seed(9)
    kernel = DoubleExponentialKernel(15.0, 3.75)
    times = torch.rand(4, 25, spikes_per_afferent, generator=generator, dtype=torch.float64) * 45 - 5
    times[0, :3] = float("inf")
    for num_outputs in (2, 64):  # L = 40 > 2 * S: scatter; 40 <= 64 * S: raster
        weights = torch.randn(25, num_outputs, generator=generator, dtype=torch.float64).requires_grad_()
        trace = exact.voltage(times, weights, kernel, 1.0, 40)
        reference = dense_reference(times, weights, kernel, 1.0, 40)
        torch.testing.assert_close(trace, reference)
        upstream = torch.randn_like(reference)
        (gradient,) = torch.autograd.grad((trace * upstream).sum(), weights)
        (expected,) = torch.autograd.grad((reference * upstream).sum(), weights)
        torch.testing.assert_close(gradient, expected)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_filtered_trace_is_exactly_zero_where_the_kernel_is(dtype):
    # The double exponential is 0 at lag 0: a current entering at step k leaves V[k] exactly at rest,
    # as the recursion gives. A residue of rounding there (coef and -coef summed in one product)
    # outranks the zeros before it in a max over time and moves a network's max-readout gradient
    # to that step: GPU gradients differed from the compiled CPU path's by 2e-3 (relative).
    kernel = DoubleExponentialKernel(15.0, 3.75)
    generator = torch.Generator().manual_seed(3)
    currents = torch.zeros(64, 3, 100, 1, dtype=dtype)
    first = torch.randint(0, 100, (64, 3), generator=generator)
    for pattern in range(64):
        for output in range(3):
            step = first[pattern, output]
            currents[pattern, output, step:] = torch.randn(100 - step, 1, generator=generator, dtype=dtype) * 3
    voltages = exact.filter_currents(currents.expand(-1, -1, -1, 2), kernel, 1.0)
    at_rest = torch.arange(100)[None, None, :] <= first[..., None]
    assert (voltages[at_rest] == 0).all()
    assert (voltages[~at_rest] != 0).all()
