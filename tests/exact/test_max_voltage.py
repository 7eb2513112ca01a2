"""The maximum voltage and its closed-form gradient, on both backends, against independent references."""

import pytest
import torch
from support import dense_reference, formula

from lif import exact
from lif.kernels import DoubleExponentialKernel

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
    v_max, t_max = exact.max_voltage(times.to(dtype), weights.to(dtype), kernel, 0.5, 400, v_rest=-0.1, backend=backend)
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
    v_max, _ = exact.max_voltage(times, weights, kernel, dt, num_steps, backend=backend)
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
    v_max, _ = exact.max_voltage(times, weights, kernel, 0.7, 200, backend=backend)
    (closed_form,) = torch.autograd.grad((v_max * upstream).sum(), weights)
    trace = exact.voltage(times, weights, kernel, 0.7, 200)
    (through_trace,) = torch.autograd.grad((trace.max(dim=1).values * upstream).sum(), weights)
    torch.testing.assert_close(closed_form, through_trace)


@BACKENDS
def test_a_batch_never_builds_a_time_by_afferent_tensor(backend):
    # A [B, L, N_in] tensor here would need 8 * 4000 * 250_000 * 4 bytes = 32 GB.
    kernel = DoubleExponentialKernel()
    times = torch.rand(8, 250_000) * 4000
    weights = (torch.randn(250_000, 1) * 0.01).requires_grad_()
    v_max, _ = exact.max_voltage(times, weights, kernel, 1.0, 4000, backend=backend)
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
    torch.testing.assert_close(exact.voltage(raster, weights, kernel, 1.0, 120, v_rest=0.2), reference)
    v_max, t_max = exact.max_voltage(raster, weights, kernel, 1.0, 120, v_rest=0.2, backend=backend)
    torch.testing.assert_close(v_max, reference.max(dim=1).values)
    upstream = torch.randn(5, num_outputs, generator=generator, dtype=torch.float64)
    (closed_form,) = torch.autograd.grad((v_max * upstream).sum(), weights)
    (through_reference,) = torch.autograd.grad((reference.max(dim=1).values * upstream).sum(), weights)
    torch.testing.assert_close(closed_form, through_reference)


@BACKENDS
def test_nan_weights_give_nan_maxima_as_torch_max_does(backend):
    times = torch.rand(3, 10) * 50
    weights = torch.ones(10, 2)
    weights[4, 1] = float("nan")
    v_max, _ = exact.max_voltage(times, weights, DoubleExponentialKernel(), 1.0, 60, backend=backend)
    assert torch.isfinite(v_max[:, 0]).all() and torch.isnan(v_max[:, 1]).all()


@BACKENDS
@pytest.mark.parametrize("raster", [False, True])
def test_per_pattern_weights_equal_each_pattern_with_its_own_weights(backend, raster):
    generator = torch.Generator().manual_seed(11)
    kernel = DoubleExponentialKernel()
    times = torch.rand(19, 12, 2, generator=generator, dtype=torch.float64) * 110 - 5
    inputs = (torch.rand(19, 100, 12, generator=generator) < 0.05) if raster else times
    weights = (torch.randn(19, 12, 3, generator=generator, dtype=torch.float64) * 0.4).requires_grad_()
    upstream = torch.randn(19, 3, generator=generator, dtype=torch.float64)
    v_max, t_max = exact.max_voltage(inputs, weights, kernel, 1.0, 100, v_rest=0.1, backend=backend)
    (gradient,) = torch.autograd.grad(v_max, weights, upstream)
    for b in range(19):  # one pattern at a time, through the dense reference and autograd
        own = weights[b].detach().clone().requires_grad_()
        reference = dense_reference(inputs[b : b + 1], own, kernel, 1.0, 100, v_rest=0.1).max(dim=1).values
        (reference_gradient,) = torch.autograd.grad(reference, own, upstream[b : b + 1])
        torch.testing.assert_close(v_max[b], reference[0].detach())
        torch.testing.assert_close(gradient[b], reference_gradient)
