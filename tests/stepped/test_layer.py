"""The compiled scan (lif.stepped.layer) equals the plain time loop: spikes, voltages and gradients,
for every neuron model, reset, surrogate and edge case of the input."""

import pytest
import torch

from lif.stepped import compiled
from lif.stepped.alif import ALIF
from lif.stepped.cuba import CUBA
from lif.stepped.li import LI
from lif.stepped.lif import LIF
from lif.stepped.layer import compiled_constants, run_layer
from lif.stepped.simulate import simulate
from lif.stepped.surrogates import FastSigmoid, Surrogate
from support import NEURONS, SURROGATES, assert_same_run



def currents(kind: str, shape=(4, 50, 9), dtype=torch.float64, seed=0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    batch, steps, size = shape
    if kind == "random":  # some neurons fire often, some rarely
        return torch.rand(shape, generator=generator, dtype=dtype) * torch.linspace(0.1, 1.2, size, dtype=dtype)
    current = torch.zeros(shape, dtype=dtype)
    if kind == "all":  # every neuron fires at every step
        current += 5.0
    elif kind == "first_and_last":  # one strong input at the first and at the last step only
        current[:, 0] = 5.0
        current[:, -1] = 5.0
    return current  # "none": no input, no spikes


def loop_and_compiled(neuron, current, direct=None, seed=1):
    """(spikes, voltages, gradients) of a random linear loss, by the time loop and by run_layer."""
    generator = torch.Generator().manual_seed(seed)
    weigh_spikes = torch.randn(current.shape, generator=generator, dtype=current.dtype)
    weigh_voltages = torch.randn(current.shape, generator=generator, dtype=current.dtype)
    results = []
    for run in (simulate, run_layer):
        inputs = [current.clone().requires_grad_()] + ([direct.clone().requires_grad_()] if direct is not None else [])
        spikes, voltages = run(neuron, *inputs)
        loss = (spikes * weigh_spikes).sum() + (voltages * weigh_voltages).sum()
        results.append((spikes, voltages, torch.autograd.grad(loss, inputs)))
    return results


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda surrogate: surrogate.name)
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("model", NEURONS)
def test_compiled_scan_equals_the_time_loop(model, reset, detach_reset, surrogate):
    neuron = NEURONS[model](reset=reset, detach_reset=detach_reset, surrogate=surrogate, v_reset=-0.3).double()
    current = currents("random")
    assert compiled_constants(neuron, current, None) is not None  # the compiled path is the one tested
    loop, fast = loop_and_compiled(neuron, current)
    assert 0.02 < loop[0].mean() < 0.9  # the test sees spikes and silences
    assert_same_run(loop, fast)


@pytest.mark.parametrize("kind", ["none", "all", "first_and_last"])
@pytest.mark.parametrize("model", NEURONS)
def test_compiled_scan_equals_the_time_loop_on_edge_inputs(model, kind):
    neuron = NEURONS[model](detach_reset=False).double()
    loop, fast = loop_and_compiled(neuron, currents(kind))
    expected_spikes = {"none": 0, "all": None, "first_and_last": None}[kind]
    if expected_spikes is not None:
        assert loop[0].sum() == expected_spikes
    if kind == "first_and_last":  # (cuba's membrane sees the current one step late)
        assert loop[0][:, :2].any(dim=1).all()
    assert_same_run(loop, fast)


def test_cuba_direct_jumps_and_resting_level_in_the_compiled_scan():
    neuron = CUBA(tau_m=8.0, tau_s=2.0, v_rest=-0.5, v_th=0.5).double()
    current = currents("random")
    direct = currents("random", seed=5) * 0.3
    loop, fast = loop_and_compiled(neuron, current, direct)
    assert len(fast[2]) == 2 and fast[2][1].abs().sum() > 0  # the direct jumps get their gradient
    assert_same_run(loop, fast)


@pytest.mark.parametrize("model", NEURONS)
def test_compiled_scan_in_float32_gives_the_loops_spikes(model):
    neuron = NEURONS[model]()
    current = currents("random", shape=(8, 120, 32), dtype=torch.float32)
    loop, fast = loop_and_compiled(neuron, current)
    # the same float32 operations in the same order: identical spikes and voltages
    assert torch.equal(fast[0], loop[0])
    torch.testing.assert_close(fast[1], loop[1], rtol=0, atol=0)
    torch.testing.assert_close(fast[2][0], loop[2][0], rtol=1e-5, atol=1e-5)


def spike_loss_gradients(run, neuron, current, direct, recurrent, weigh) -> tuple[torch.Tensor, tuple]:
    """(spikes, gradients of (spikes * weigh).sum() by current, direct, recurrent) of ``run``."""
    inputs = [x.clone().requires_grad_() for x in (current, direct, recurrent) if x is not None]
    given = iter(inputs)
    arguments = [next(given) if x is not None else None for x in (current, direct, recurrent)]
    spikes = run(neuron, *arguments)[0]
    return spikes, torch.autograd.grad((spikes * weigh).sum(), inputs)


def without_voltages(neuron, current, direct=None, recurrent=None):
    spikes, voltages = run_layer(neuron, current, direct, recurrent, keep_voltages=False)
    assert voltages is None
    return spikes, voltages


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda surrogate: surrogate.name)
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("model", NEURONS)
def test_the_scan_that_keeps_no_voltages_computes_the_time_loops_gradients(model, reset, detach_reset, surrogate):
    """keep_voltages=False: the backward steps the layer again from its inputs (currents, cuba's
    direct jumps, recurrent weights): the same spikes and gradients as the time loop."""
    neuron = NEURONS[model](reset=reset, detach_reset=detach_reset, surrogate=surrogate, v_reset=-0.3).double()
    current = currents("random") * 0.8
    direct = currents("random", seed=5) * 0.3 if model == "cuba" else None
    recurrent = torch.randn(9, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.4
    weigh = torch.randn(current.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    loop_spikes, loop_gradients = spike_loss_gradients(simulate, neuron, current, direct, recurrent, weigh)
    spikes, gradients = spike_loss_gradients(without_voltages, neuron, current, direct, recurrent, weigh)
    assert 0.02 < loop_spikes.mean() < 0.9
    assert torch.equal(spikes, loop_spikes)
    for gradient, loop_gradient in zip(gradients, loop_gradients, strict=True):
        assert gradient.abs().sum() > 0
        torch.testing.assert_close(gradient, loop_gradient, rtol=1e-10, atol=1e-10)  # R's sums in another order


@pytest.mark.parametrize("keep_voltages", [True, False])
@pytest.mark.parametrize("summed", [(0, 1, 2), (0,), (1,), (2,), (0, 1)], ids=str)
def test_an_upstream_gradient_that_repeats_along_a_dimension_is_read_as_one_row(summed, keep_voltages):
    """A loss on spikes summed over some dimensions (spikes.sum() the whole) hands the backward a
    gradient expanded along them with stride 0, which the kernel reads as one row per pattern or
    step: the time loop's gradients."""
    neuron = LIF(tau_m=8.0, detach_reset=False).double()
    current = currents("random")
    weigh = torch.randn(current.sum(dim=summed, keepdim=True).shape, generator=torch.Generator().manual_seed(6),
                        dtype=torch.float64)
    gradients, strides = [], []
    for run in (simulate, run_layer if keep_voltages else without_voltages):
        leaf = current.clone().requires_grad_()
        spikes = run(neuron, leaf)[0]
        spikes.register_hook(lambda gradient: strides.append(gradient.stride()))
        loss = (spikes.sum(dim=summed, keepdim=True) * weigh).sum()
        gradients.append(torch.autograd.grad(loss, leaf)[0])
    assert all(strides[1][dimension] == 0 for dimension in summed)  # the case under test
    assert gradients[0].abs().sum() > 0
    torch.testing.assert_close(gradients[1], gradients[0], rtol=1e-12, atol=1e-12)


class Custom(Surrogate):
    name = "custom"

    def derivative(self, x):
        return torch.exp(-x.abs())


@pytest.mark.parametrize(
    "neuron, why",
    [
        (LIF(tau_m=8.0, learn_tau=True), "learnable time constants"),
        (LIF(tau_m=8.0, surrogate=Custom()), "a user-defined surrogate"),
        (LI(tau_m=8.0, tau_s=2.0), "a non-spiking neuron"),
    ],
)
def test_the_time_loop_runs_what_the_compiled_scan_does_not_cover(neuron, why):
    current = currents("random", dtype=torch.float32)
    assert compiled_constants(neuron, current, None) is None, why
    spikes, voltages = run_layer(neuron, current)
    loop_spikes, loop_voltages = simulate(neuron, current)
    assert (spikes is None and loop_spikes is None) or torch.equal(spikes, loop_spikes)
    assert torch.equal(voltages, loop_voltages)


def test_the_compiled_scan_is_not_used_for_half_precision():
    neuron = LIF(tau_m=8.0)
    assert compiled_constants(neuron, torch.zeros(1, 2, 3, dtype=torch.float16), None) is None
    assert compiled_constants(neuron, torch.zeros(1, 2, 3), torch.zeros(3, 3, dtype=torch.float64)) is None


def test_an_infinite_threshold_never_fires_nor_resets_in_the_compiled_scan():
    neuron = CUBA(tau_m=8.0, tau_s=2.0, v_th=float("inf")).double()
    assert compiled_constants(neuron, currents("random"), None).reset == compiled.NONE
    loop, fast = loop_and_compiled(neuron, currents("random"))
    assert fast[0].sum() == 0
    assert_same_run(loop, fast)


@pytest.mark.parametrize("model", NEURONS)
def test_compiled_recurrent_layer_equals_the_time_loop(model):
    neuron = NEURONS[model](detach_reset=False).double()
    current = currents("random") * 0.7
    recurrent = torch.randn(9, 9, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 0.4
    weigh = torch.randn(current.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    results = []
    for run in (simulate, run_layer):
        inputs = [current.clone().requires_grad_(), recurrent.clone().requires_grad_()]
        spikes, voltages = run(neuron, inputs[0], None, inputs[1])
        results.append((spikes, voltages, torch.autograd.grad((spikes * weigh).sum() + voltages.sum(), inputs)))
    assert 0.02 < results[0][0].mean() < 0.9
    assert_same_run(*results, voltage_tolerance=1e-12, gradient_tolerance=1e-10)  # sums in another order


def test_compiled_filter_equals_the_exact_filter_with_its_gradient():
    from lif import exact
    from lif.kernels import ExponentialSumKernel
    from lif.stepped.layer import filter_layer

    kernel = ExponentialSumKernel()  # three terms: the filter is general in the kernel
    kernel.coefficients, kernel.time_constants = (1.5, -0.5, -1.0), (12.0, 4.0, 2.0)
    current = currents("random", shape=(3, 45, 4), seed=3).requires_grad_()
    weigh = torch.randn(3, 45, 4, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    fast = filter_layer(current, kernel, dt=0.5)
    terms = current.unsqueeze(-1).expand(*current.shape, 3).transpose(1, 2)
    reference = exact.filter_currents(terms, kernel, 0.5).transpose(1, 2)
    torch.testing.assert_close(fast, reference)
    (fast_gradient,) = torch.autograd.grad((fast * weigh).sum(), current)
    (reference_gradient,) = torch.autograd.grad((reference * weigh).sum(), current)
    torch.testing.assert_close(fast_gradient, reference_gradient)
