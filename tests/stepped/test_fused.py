"""The one-pass spiking layer and leaky-integrator outputs (lif.stepped.fused) equal the plain
time loop under dense products: hidden spikes, output voltages and both weight gradients, for
every neuron model, reset, surrogate, readout and edge case of the input raster."""

import pytest
import torch

from lif import exact
from lif.kernels import DoubleExponentialKernel, ExponentialKernel, ExponentialSumKernel
from lif.losses import CrossEntropyLoss
from lif.models.network import Network
from lif.stepped.fused import LayerAndReadout, layer_and_readout
from lif.stepped.layer import compiled_constants, filter_constants
from lif.stepped.simulate import simulate
from support import NEURONS, SURROGATES, assert_same_run

DT = 0.5


def three_term_kernel() -> ExponentialSumKernel:
    kernel = ExponentialSumKernel()  # three terms: the output filter is general in the kernel
    kernel.coefficients, kernel.time_constants = (1.5, -0.5, -1.0), (12.0, 4.0, 2.0)
    return kernel


def raster(kind: str, shape=(5, 40, 13), rate=0.06, seed=0) -> torch.Tensor:
    """A bool raster [B, L, N_in]; N_in = 13 and L N_in = 520 leave rows that start and end inside
    64-bit words (the word scan's edges)."""
    if kind == "random":
        return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) < rate
    spikes = torch.zeros(shape, dtype=torch.bool)
    if kind == "all":
        spikes[:] = True
    elif kind == "first_and_last":
        spikes[:, 0], spikes[:, -1] = True, True
    return spikes  # "none"


def weights(num_inputs, size, num_outputs, dtype, gain=3.0, seed=1):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(num_inputs, size, generator=generator, dtype=dtype) * gain / num_inputs**0.5
    # positive: each output's maximum is a clear peak, not one of several voltages equal up to rounding
    # (a double-exponential kernel is 0 at its start), where a max's gradient would follow rounding
    output_weight = torch.randn(size, num_outputs, generator=generator, dtype=dtype).abs() / size**0.5
    return weight, output_weight


def loss_of(counts, output_voltages, peaks, readout, count_weight=0.3):
    """A loss through a readout of the outputs and through the spike counts (as a firing-rate penalty
    would); ``peak``: the maxima over time as the run returns them (the one pass's own), ``max``
    taken of the voltages."""
    scores = {"peak": peaks, "max": output_voltages.amax(dim=1), "mean": output_voltages.mean(dim=1),
              "last": output_voltages[:, -1]}
    targets = torch.arange(output_voltages.shape[0]) % output_voltages.shape[2]
    loss = torch.nn.functional.cross_entropy(scores[readout], targets)
    return loss + count_weight * (counts**2).mean() if count_weight else loss  # 0: none reaches the counts


def time_loop(inputs, weight, output_weight, neuron, kernel):
    """Dense products, the neuron's plain time loop and the exact filter: the reference."""
    spikes, _ = simulate(neuron, inputs.to(weight.dtype) @ weight)
    output_current = spikes @ output_weight
    terms = output_current.unsqueeze(-1).expand(*output_current.shape, len(kernel.time_constants)).transpose(1, 2)
    output_voltages = exact.filter_currents(terms, kernel, DT).transpose(1, 2)
    return spikes, spikes.sum(dim=1), output_voltages, output_voltages.max(dim=1).values


def fused(inputs, weight, output_weight, neuron, kernel, word_scan, row_capacity=0):
    constants = compiled_constants(neuron, weight.new_empty((1, 1, 1)), None)
    return LayerAndReadout.apply(
        inputs, weight, output_weight, constants, *filter_constants(kernel, DT, weight.dtype), word_scan, row_capacity
    )


def both(inputs, neuron, kernel, readout="peak", dtype=torch.float64, word_scan=True, size=9, num_outputs=4, row_capacity=0,
         count_weight=0.3):
    """(reference, fused) results: (spikes as numbers, (spike counts, output voltages, their maxima),
    (dL/dW, dL/dW_out))."""
    results = []
    for run in (time_loop, lambda *args: fused(*args, word_scan, row_capacity)):
        weight, output_weight = (w.requires_grad_() for w in weights(inputs.shape[2], size, num_outputs, dtype))
        spikes, counts, output_voltages, peaks = run(inputs, weight, output_weight, neuron, kernel)
        loss = loss_of(counts, output_voltages, peaks, readout, count_weight)
        gradients = torch.autograd.grad(loss, (weight, output_weight))
        results.append((spikes.detach().to(dtype), (counts.detach(), output_voltages.detach(), peaks.detach()), gradients))
    return results


@pytest.mark.parametrize("surrogate", SURROGATES, ids=lambda surrogate: surrogate.name)
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("model", NEURONS)
def test_one_pass_equals_the_time_loop(model, reset, detach_reset, surrogate):
    neuron = NEURONS[model](reset=reset, detach_reset=detach_reset, surrogate=surrogate, v_reset=-0.3).double()
    reference, fast = both(raster("random"), neuron, DoubleExponentialKernel(8.0, 2.0))
    assert 0.02 < reference[0].mean() < 0.9  # the test sees spikes and silences
    assert_same_run(reference, fast, 1e-10, 1e-10)  # sums in another order


# The word scan's rows kept for the backward: none (found again), room for every entry, or room
# for 31 per pattern, the mean of the random raster (40 x 13 x 0.06): some patterns' rows are kept,
# the others found again.
ROW_CAPACITIES = {"raster words": (True, 0), "raster words kept": (True, 520), "raster words some kept": (True, 31),
                  "compressed rows": (False, 0)}


@pytest.mark.parametrize("rows", ROW_CAPACITIES)
@pytest.mark.parametrize("kind", ["none", "all", "first_and_last", "random"])
@pytest.mark.parametrize("model", NEURONS)
def test_one_pass_equals_the_time_loop_on_edge_inputs(model, kind, rows):
    neuron = NEURONS[model](detach_reset=False).double()
    word_scan, row_capacity = ROW_CAPACITIES[rows]
    if rows == "raster words some kept" and kind == "random":
        counts = raster(kind).sum(dim=(1, 2))
        assert (counts <= row_capacity).any() and (counts > row_capacity).any()
    reference, fast = both(raster(kind), neuron, three_term_kernel(), word_scan=word_scan, row_capacity=row_capacity)
    if kind == "none":
        assert reference[0].sum() == 0
    assert_same_run(reference, fast, 1e-10, 1e-10)  # sums in another order


@pytest.mark.parametrize("readout", ["peak", "max", "mean", "last"])
def test_one_pass_equals_the_time_loop_for_each_readout(readout):
    # max (of the voltages, not the pass's peaks): dL/dV at the peak steps; mean and last: nonzero
    # at every step / only the last, not one step per output; no gradient through the spike counts
    reference, fast = both(raster("random", seed=3), NEURONS["lif"](), ExponentialKernel(10.0, v_0=1.0), readout,
                           count_weight=0.0)
    assert_same_run(reference, fast, 1e-10, 1e-10)  # sums in another order


def test_one_pass_takes_spikes_as_numbers_and_float32():
    inputs = raster("random", seed=4).to(torch.float32) * 2.0  # numbers: the compressed rows carry the values
    neuron = NEURONS["cuba"]()
    reference, fast = both(inputs, neuron, DoubleExponentialKernel(8.0, 2.0), dtype=torch.float32, word_scan=False)
    assert reference[0].sum() > 0
    assert_same_run(reference, fast, 1e-5, 1e-5)


def test_one_pass_without_a_gradient_through_the_outputs():
    weight, output_weight = (w.requires_grad_() for w in weights(13, 9, 4, torch.float64))
    neuron, kernel, inputs = NEURONS["lif"]().double(), ExponentialKernel(10.0), raster("random", seed=5)
    gradients = []
    for run in (time_loop, lambda *args: fused(*args, True)):
        counts = run(inputs, weight, output_weight, neuron, kernel)[1]
        gradients.append(torch.autograd.grad((counts**2).sum(), weight))
    torch.testing.assert_close(gradients[1], gradients[0])


def test_layer_and_readout_applies_to_sparse_inputs_needing_no_gradient():
    weight, output_weight = weights(13, 40, 4, torch.float64)  # 40 >= the event-driven path's outputs
    neuron, kernel = NEURONS["lif"]().double(), ExponentialKernel(10.0)
    assert layer_and_readout(raster("random"), weight, neuron, output_weight, kernel, DT) is not None
    assert layer_and_readout(raster("all"), weight, neuron, output_weight, kernel, DT) is None  # dense: the GEMM
    needs_gradient = raster("random").double().requires_grad_()
    assert layer_and_readout(needs_gradient, weight, neuron, output_weight, kernel, DT) is None
    assert layer_and_readout(raster("random"), weight, NEURONS["lif"](learn_tau=True).double(), output_weight,
                             kernel, DT) is None


def network(hidden=(40,), **settings) -> Network:
    torch.manual_seed(0)
    return Network(13, NEURONS["lif"], ExponentialKernel(10.0), hidden=list(hidden), num_outputs=3, T=20.0, dt=DT,
                   init_gain=3.0, **settings).double()


@pytest.mark.parametrize(
    "net, record, training, expected",
    [
        (network(), False, True, True),
        (network(), True, False, False),  # plots need the hidden voltages
        (network(dropout=0.5), False, True, False),
        (network(dropout=0.5), False, False, True),  # dropout is off while evaluating
        (network(recurrent=True), False, True, False),
        (network(hidden=(40, 40)), False, True, False),
        (network(output="spiking", readout="spike_count"), False, True, False),
    ],
    ids=["one hidden layer", "recording", "dropout", "dropout evaluating", "recurrent", "two hidden layers",
         "spiking output"],
)
def test_network_takes_the_one_pass_where_it_applies(net, record, training, expected):
    net.train(training)
    output = net(raster("random"), record=record)
    assert (output.spikes[0].dtype == torch.bool) == expected  # the one pass's spikes are bools (and carry no gradient)
    assert (output.voltages[0] is None) == (not record)  # hidden voltages are kept only to be recorded


def test_network_gives_the_same_results_by_either_path():
    net = network()
    inputs, labels = raster("random", seed=6), torch.tensor([0, 1, 2, 0, 1])
    loss = CrossEntropyLoss(rate_penalty=5.0, rate_min=0.1, rate_max=0.1)  # through the readout and the spike counts
    results = []
    for record in (False, True):  # record=True takes the layer-by-layer path
        net.zero_grad()
        output = net(inputs, record=record)
        loss(output, labels).mean().backward()
        results.append((output.readout.detach(), output.spikes[0].detach(), output.neuron_spike_counts()[1].detach(),
                        [p.grad.clone() for p in net.parameters()]))
    (readout, spikes, counts, gradients), (layered_readout, layered_spikes, layered_counts, layered_gradients) = results
    assert spikes.dtype == torch.bool and layered_spikes.dtype == torch.float64  # the one pass's carry no gradient
    assert torch.equal(spikes.double(), layered_spikes)
    assert torch.equal(counts, layered_counts)
    assert loss.rate_bounds(output).abs().min() > 0  # the penalty is on in every pattern
    torch.testing.assert_close(readout, layered_readout)
    for gradient, layered_gradient in zip(gradients, layered_gradients):
        torch.testing.assert_close(gradient, layered_gradient)


@pytest.mark.parametrize("record", [False, True], ids=["one pass", "layer by layer"])
def test_network_outputs_are_measured_from_rest(record):
    inputs = raster("random", seed=7)
    at_zero, at_rest = network(), network(v_rest=0.25)  # the same weights (seeded)
    outputs = [net(inputs, record=record) for net in (at_zero, at_rest)]
    voltages = [output.voltages[-1].detach() for output in outputs]
    torch.testing.assert_close(voltages[1], voltages[0] + 0.25)
    assert voltages[0].abs().max() > 0
    torch.testing.assert_close(outputs[1].readout.detach(), outputs[0].readout.detach() + 0.25)  # the max readout
