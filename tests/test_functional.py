"""The exact projection-first voltages against independent references."""

import math

import pytest
import torch

from lif import functional
from lif.kernels import DoubleExponentialKernel, ExponentialKernel
from support import dense_reference


def formula(t, spike, tau_m, tau_s, v_0):
    """The double exponential PSP at time t of a spike at `spike`, written out."""
    s = t - spike
    return v_0 * (math.exp(-s / tau_m) - math.exp(-s / tau_s)) if s >= 0 else 0.0


@pytest.mark.parametrize("dt", [1.0, 0.5, 0.25, 0.1])
@pytest.mark.parametrize("tau_m, tau_s", [(15.0, 3.75), (20.0, 2.0), (8.0, 7.0)])
@pytest.mark.parametrize("spike", [0.0, 13.0, 13.37, 99.99])
def test_one_spike_reproduces_the_continuous_kernel_on_the_grid(dt, tau_m, tau_s, spike):
    kernel = DoubleExponentialKernel(tau_m, tau_s)
    num_steps = round(200.0 / dt)
    weights = torch.ones(1, 1, dtype=torch.float64)
    trace = functional.voltage(torch.tensor([[spike]], dtype=torch.float64), weights, kernel, dt, num_steps)
    expected = [formula(k * dt, spike, tau_m, tau_s, kernel.v_0) for k in range(num_steps)]
    assert trace[0, :, 0].tolist() == pytest.approx(expected, abs=1e-12)


def test_many_spikes_sum_their_kernels_in_float32_too():
    kernel = DoubleExponentialKernel(15.0, 3.75)
    spikes = [2.0, 2.5, 10.0, 41.3, 41.3, 120.9]
    weights = torch.tensor([[0.3], [-0.7], [1.1], [0.2], [0.5], [-0.4]])
    times = torch.tensor([spikes])
    trace = functional.voltage(times, weights, kernel, 0.5, 300, v_rest=-0.25)
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
    trace = functional.voltage(times, weights, kernel, dt, num_steps, v_rest=0.1)
    reference = dense_reference(times.double(), weights.double(), kernel, dt, num_steps, v_rest=0.1)
    assert trace.shape == (batch, num_steps, num_outputs)
    torch.testing.assert_close(trace.double(), reference, rtol=0, atol=2e-5)


def test_spikes_outside_the_window_or_missing_change_nothing():
    kernel = DoubleExponentialKernel()
    weights = torch.tensor([[1.0], [5.0], [5.0], [5.0]], dtype=torch.float64)
    times = torch.tensor([[10.0, 100.0, float("inf"), float("nan")]], dtype=torch.float64)  # T = 100
    trace = functional.voltage(times, weights, kernel, 1.0, 100)
    alone = functional.voltage(times[:, :1], weights[:1], kernel, 1.0, 100)
    assert torch.equal(trace, alone)


BACKENDS = pytest.mark.parametrize("backend", ["compiled", "torch"])


@BACKENDS
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_max_voltage_and_its_time_match_the_dense_reference(backend, dtype):
    generator = torch.Generator().manual_seed(3)
    kernel = DoubleExponentialKernel()
    times = torch.rand(40, 50, 2, generator=generator, dtype=torch.float64) * 230 - 15  # some before 0, some after T
    times[0, :5, 1] = float("inf")
    times[1, :3, 0] = float("nan")
    weights = torch.randn(50, 3, generator=generator, dtype=torch.float64) * 0.2
    v_max, t_max = functional.max_voltage(times.to(dtype), weights.to(dtype), kernel, 0.5, 400, v_rest=-0.1, backend=backend)
    reference = dense_reference(times, weights, kernel, 0.5, 400, v_rest=-0.1)
    tolerance = {} if dtype == torch.float64 else {"rtol": 0, "atol": 2e-5}
    torch.testing.assert_close(v_max.double(), reference.max(dim=1).values, **tolerance)
    if dtype == torch.float64:  # float32 may break near-ties differently
        torch.testing.assert_close(t_max, reference.argmax(dim=1).double() * 0.5)


def tempotron_rule(times, weights, kernel, dt, num_steps, labels, v_th):
    """Gütig & Sompolinsky's rule written out: on an error, dW_i = y * sum_j K(t_max - t_i^j).

    Returns the gradient of the summed hinge loss, i.e. minus that update, per pattern loop.
    """
    reference = dense_reference(times, weights, kernel, dt, num_steps)[:, :, 0]
    gradient = torch.zeros_like(weights)
    for b in range(times.shape[0]):
        y = 1.0 if labels[b] == 1 else -1.0
        v_max, k_max = reference[b].max(dim=0)
        fired = v_max.item() >= v_th
        if fired == (y > 0):
            continue  # correct: no change
        t_max = k_max.item() * dt
        for i in range(times.shape[1]):
            psp = sum(formula(t_max, s, kernel.tau_m, kernel.tau_s, kernel.v_0) for s in times[b, i].tolist())
            gradient[i, 0] -= y * psp
    return gradient


@BACKENDS
def test_autograd_gradient_is_the_tempotron_rule(backend):
    generator = torch.Generator().manual_seed(11)
    kernel = DoubleExponentialKernel()
    batch, num_inputs, num_steps, dt, v_th = 24, 30, 300, 1.0, 1.0
    times = torch.rand(batch, num_inputs, 2, generator=generator, dtype=torch.float64) * 300
    weights = (torch.randn(num_inputs, 1, generator=generator, dtype=torch.float64) * 0.3).requires_grad_()
    labels = torch.arange(batch) % 2
    v_max, _ = functional.max_voltage(times, weights, kernel, dt, num_steps, backend=backend)
    y = (2 * labels - 1).unsqueeze(1).double()
    torch.relu(-y * (v_max - v_th)).sum().backward()

    expected = tempotron_rule(times, weights.detach(), kernel, dt, num_steps, labels, v_th)
    errors = ((v_max.detach()[:, 0] >= v_th).long() != labels).sum().item()
    assert 0 < errors < batch  # both cases occur: errors change weights, correct patterns do not
    torch.testing.assert_close(weights.grad, expected)


@BACKENDS
def test_closed_form_backward_equals_autograd_through_the_trace(backend):
    generator = torch.Generator().manual_seed(5)
    kernel = DoubleExponentialKernel(12.0, 2.0)
    times = torch.rand(16, 20, 2, generator=generator, dtype=torch.float64) * 150 - 10
    weights = torch.randn(20, 4, generator=generator, dtype=torch.float64).requires_grad_()
    upstream = torch.randn(16, 4, generator=generator, dtype=torch.float64)
    upstream[3] = 0.0  # a correct pattern: no gradient from it
    v_max, _ = functional.max_voltage(times, weights, kernel, 0.7, 200, backend=backend)
    (closed_form,) = torch.autograd.grad((v_max * upstream).sum(), weights)
    trace = functional.voltage(times, weights, kernel, 0.7, 200)
    (through_trace,) = torch.autograd.grad((trace.max(dim=1).values * upstream).sum(), weights)
    torch.testing.assert_close(closed_form, through_trace)


@BACKENDS
def test_a_batch_never_builds_a_time_by_afferent_tensor(backend):
    # A [B, L, N_in] tensor here would need 8 * 4000 * 250_000 * 4 bytes = 32 GB.
    kernel = DoubleExponentialKernel()
    times = torch.rand(8, 250_000) * 4000
    weights = (torch.randn(250_000, 1) * 0.01).requires_grad_()
    v_max, _ = functional.max_voltage(times, weights, kernel, 1.0, 4000, backend=backend)
    v_max.sum().backward()
    assert torch.isfinite(weights.grad).all() and v_max.shape == (8, 1)


@BACKENDS
@pytest.mark.parametrize("num_outputs", [1, 4])
def test_a_raster_goes_through_one_matrix_product_and_matches_the_reference(num_outputs, backend):
    generator = torch.Generator().manual_seed(2)
    kernel = DoubleExponentialKernel(15.0, 3.75)
    raster = torch.rand(5, 120, 30, generator=generator, dtype=torch.float64) < 0.05  # many spikes per afferent
    weights = torch.randn(30, num_outputs, generator=generator, dtype=torch.float64).requires_grad_()
    reference = dense_reference(raster, weights, kernel, 1.0, 120, v_rest=0.2)
    torch.testing.assert_close(functional.voltage(raster, weights, kernel, 1.0, 120, v_rest=0.2), reference)
    v_max, t_max = functional.max_voltage(raster, weights, kernel, 1.0, 120, v_rest=0.2, backend=backend)
    torch.testing.assert_close(v_max, reference.max(dim=1).values)
    upstream = torch.randn(5, num_outputs, generator=generator, dtype=torch.float64)
    (closed_form,) = torch.autograd.grad((v_max * upstream).sum(), weights)
    (through_reference,) = torch.autograd.grad((reference.max(dim=1).values * upstream).sum(), weights)
    torch.testing.assert_close(closed_form, through_reference)


def test_raster_and_spike_times_of_the_same_spikes_agree():
    kernel = DoubleExponentialKernel()
    times = torch.tensor([[3.0, 17.0, float("inf")]], dtype=torch.float64)
    raster = torch.zeros(1, 50, 3, dtype=torch.bool)
    raster[0, 3, 0] = raster[0, 17, 1] = True
    weights = torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64)
    torch.testing.assert_close(
        functional.voltage(raster, weights, kernel, 1.0, 50), functional.voltage(times, weights, kernel, 1.0, 50)
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
    trace = functional.voltage(inputs, weights, kernel, 0.5 if not raster else 1.0, 160 if not raster else 80, v_rest=0.3)
    mean = functional.mean_voltage(inputs, weights, kernel, 0.5 if not raster else 1.0, 160 if not raster else 80, v_rest=0.3)
    torch.testing.assert_close(mean, trace.mean(dim=1))


def test_spike_counts_inside_the_window():
    times = torch.tensor([[[-1.0, 2.0, 99.2], [5.0, 6.0, float("nan")], [100.0, float("inf"), 0.0]]])
    assert functional.spike_counts(times, 1.0, 100).tolist() == [[1, 2, 1]]  # 99.2 enters at step 100: outside
    raster = torch.zeros(1, 10, 2, dtype=torch.bool)
    raster[0, [1, 4, 9], 0] = True
    assert functional.spike_counts(raster, 1.0, 10).tolist() == [[3, 0]]


@BACKENDS
def test_nan_weights_give_nan_maxima_as_torch_max_does(backend):
    times = torch.rand(3, 10) * 50
    weights = torch.ones(10, 2)
    weights[4, 1] = float("nan")
    v_max, _ = functional.max_voltage(times, weights, DoubleExponentialKernel(), 1.0, 60, backend=backend)
    assert torch.isfinite(v_max[:, 0]).all() and torch.isnan(v_max[:, 1]).all()


def test_both_backends_grid_float32_spike_times_alike():
    # Times near grid points in float32: t/dt computed in float32 and in float64 differ in the
    # last bit and could enter at neighbouring steps; both backends grid in float64.
    kernel = ExponentialKernel(10.0)  # K(0) = 1: entering one step late would be visible
    times = torch.tensor([[0.3, 1.1, 4.9, 7.7, 12.1]], dtype=torch.float32)
    weights = torch.ones(5, 1)
    compiled = functional.max_voltage(times, weights, kernel, 0.1, 200, backend="compiled")
    tensors = functional.max_voltage(times, weights, kernel, 0.1, 200, backend="torch")
    torch.testing.assert_close(compiled, tensors)
    reference = dense_reference(times.double(), weights.double(), kernel, 0.1, 200)
    torch.testing.assert_close(compiled[0].double(), reference.max(dim=1).values, rtol=0, atol=1e-5)
