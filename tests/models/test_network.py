"""The network against independent references: a plain time loop written here, finite differences,
the tempotron's exact path; and its config errors."""

import functools
import math

import pytest
import torch

from lif.errors import ConfigError
from lif.kernels import DoubleExponentialKernel
from lif.models.network import Network
from lif.models.tempotron import Tempotron
from lif.stepped.alif import ALIF
from lif.stepped.cuba import CUBA
from lif.stepped.lif import LIF
from lif.stepped.surrogates import FastSigmoid

KERNEL = DoubleExponentialKernel(15.0, 3.75)
SLOPE = 5.0


def spike(x):
    """H(x) forward, 1 / (1 + SLOPE |x|)^2 backward: the step plus the (zero-valued) difference of its antiderivative."""
    smooth = x / (1 + SLOPE * x.abs())
    return (x >= 0).to(x.dtype) + (smooth - smooth.detach())


def reference_forward(raster, hidden_weight, recurrent_weight, output_weight, neuron, reset, detach_reset):
    """The network written out as a plain loop over time: hidden neurons (lif or cuba), li outputs, max readout."""
    batch, num_steps, _ = raster.shape
    d_m, d_s = math.exp(-1 / 15.0), math.exp(-1 / 3.75)
    coupling = KERNEL.v_0 * (d_m - d_s)
    size = hidden_weight.shape[1]
    i = u = s = torch.zeros(batch, size, dtype=torch.float64)
    hidden_spikes = []
    for k in range(num_steps):
        current = raster[:, k] @ hidden_weight + (s @ recurrent_weight if recurrent_weight is not None else 0.0)
        if neuron == "cuba":
            u = d_m * u + coupling * i
            i = d_s * i + current
        else:
            u = d_m * u + current
        s = spike(u - 1.0)
        fired = s.detach() if detach_reset else s
        hidden_spikes.append(s)
        u = u - fired if reset == "subtract" else u * (1 - fired)
    spikes = torch.stack(hidden_spikes, dim=1)
    currents = spikes @ output_weight
    a = b = torch.zeros(batch, output_weight.shape[1], dtype=torch.float64)
    voltages = []
    for k in range(num_steps):  # V = v_0 (A - B): each term a leaky trace of the currents
        a, b = d_m * a + currents[:, k], d_s * b + currents[:, k]
        voltages.append(KERNEL.v_0 * (a - b))
    return torch.stack(voltages, dim=1).max(dim=1).values, spikes


@pytest.mark.parametrize(
    "neuron, reset, detach_reset, recurrent",
    [("cuba", "subtract", True, False), ("cuba", "zero", True, True), ("lif", "subtract", False, True), ("lif", "zero", False, False)],
)
def test_bptt_gradients_equal_an_independent_time_loop(neuron, reset, detach_reset, recurrent):
    torch.manual_seed(0)
    model = CUBA if neuron == "cuba" else LIF
    factory = functools.partial(model, surrogate=FastSigmoid(SLOPE), reset=reset, detach_reset=detach_reset)
    net = Network(12, factory, KERNEL, hidden=[16], num_outputs=3, recurrent=recurrent, T=40.0, init_gain=3.0).double()
    with torch.no_grad():  # positive output weights: every maximum is clear, not a tie of zeros that rounding breaks
        net.weight.abs_()
    raster = torch.rand(6, 40, 12, generator=torch.Generator().manual_seed(1)) < 0.15
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    output = net(raster)
    loss = torch.nn.functional.cross_entropy(output.readout, labels)
    parameters = [net.hidden[0].weight, net.weight] + ([net.hidden[0].recurrent_weight] if recurrent else [])
    gradients = torch.autograd.grad(loss, parameters)

    copies = [parameter.detach().clone().requires_grad_() for parameter in parameters]
    v_max, spikes = reference_forward(raster.double(), copies[0], copies[2] if recurrent else None, copies[1], neuron, reset,
                                      detach_reset)
    reference_loss = torch.nn.functional.cross_entropy(v_max, labels)
    reference_gradients = torch.autograd.grad(reference_loss, copies)
    assert 0.02 < float(spikes.detach().mean()) < 0.5  # the hidden layer spikes, and not always
    assert torch.equal(output.spikes[0], spikes.detach())
    torch.testing.assert_close(output.readout, v_max)
    for gradient, reference in zip(gradients, reference_gradients):
        assert gradient.abs().max() > 0
        torch.testing.assert_close(gradient, reference)


def test_alif_network_gradients_flow_through_the_adaptive_threshold():
    # The same network with the adaptation cut from the graph (a detached copy of the threshold)
    # spikes alike but differs in its gradient: the threshold path carries gradient.
    torch.manual_seed(2)
    net = Network(10, functools.partial(ALIF, tau_a=20.0, beta=0.5), KERNEL, hidden=[12], num_outputs=2, T=50.0,
                  init_gain=4.0).double()
    raster = torch.rand(4, 50, 10, generator=torch.Generator().manual_seed(3)) < 0.2

    def gradient():
        net.zero_grad()
        output = net(raster)
        output.readout.sum().backward()
        return output.spikes[0].detach(), net.hidden[0].weight.grad.clone()

    spikes, full = gradient()
    import lif.stepped.alif as alif

    import lif.models.network as network
    from lif.stepped.simulate import simulate

    original, original_run = alif.ALIFState, network.run_layer
    try:  # the adaptation sees the spikes without their gradient (in the time loop, which this can patch)
        alif.ALIFState = lambda u, a, s: original(u, a, s.detach())
        network.run_layer = lambda neuron, current, direct, recurrent, keep_voltages: simulate(neuron, current, direct, recurrent)
        detached_spikes, detached = gradient()
    finally:
        alif.ALIFState, network.run_layer = original, original_run
    assert spikes.sum() > 0 and torch.equal(spikes, detached_spikes)
    assert not torch.allclose(full, detached)


@pytest.mark.parametrize("readout", ["max", "mean", "smooth_max"])
def test_finite_differences_agree_where_the_loss_is_smooth(readout):
    # The output weights never change the hidden spikes: the loss is smooth in them.
    torch.manual_seed(4)
    net = Network(8, CUBA, KERNEL, hidden=[10], num_outputs=3, readout=readout, T=30.0, init_gain=3.0).double()
    times = torch.rand(5, 8, generator=torch.Generator().manual_seed(5), dtype=torch.float64) * 20
    labels = torch.tensor([0, 1, 2, 1, 0])

    def loss():
        return torch.nn.functional.cross_entropy(net(times).readout, labels)

    (gradient,) = torch.autograd.grad(loss(), net.weight)
    numeric = torch.zeros_like(gradient)
    with torch.no_grad():
        for index in range(net.weight.numel()):
            step = torch.zeros_like(net.weight).view(-1)
            step[index] = 1e-6
            net.weight += step.view_as(net.weight)
            up = loss()
            net.weight -= 2 * step.view_as(net.weight)
            down = loss()
            net.weight += step.view_as(net.weight)
            numeric.view(-1)[index] = (up - down) / 2e-6
    assert gradient.abs().max() > 1e-3
    torch.testing.assert_close(gradient, numeric, rtol=1e-5, atol=1e-8)


def test_without_hidden_layers_the_network_is_the_exact_tempotron():
    torch.manual_seed(6)
    net = Network(30, CUBA, KERNEL, hidden=[], num_outputs=4, T=80.0, v_rest=0.1)
    tempotron = Tempotron(30, KERNEL, num_outputs=4, T=80.0, v_rest=0.1)
    with torch.no_grad():
        tempotron.weight.copy_(net.weight)
    times = torch.rand(9, 30) * 90 - 5
    fast = net(times).readout  # the compiled max-voltage path
    traced = net(times, record=True)  # the filtered trace, then its maximum
    torch.testing.assert_close(fast, tempotron(times).v_max)
    torch.testing.assert_close(traced.readout, fast)
    torch.testing.assert_close(traced.voltages[-1], tempotron.voltage(times))


def test_a_first_layer_on_spike_times_is_exact_between_grid_points():
    # A hidden layer that cannot fire passes nothing on; its voltage is the exact path's (per layer, by kernel).
    from lif import exact

    net = Network(6, functools.partial(CUBA, v_th=math.inf), KERNEL, hidden=[5], T=40.0).double()
    times = torch.tensor([[0.3, 7.77, 12.5, -2.0, 39.9, math.inf]], dtype=torch.float64)
    reference = exact.voltage(times, net.hidden[0].weight, KERNEL, 1.0, 40)
    torch.testing.assert_close(net(times, record=True).voltages[0], reference, rtol=0, atol=1e-12)
    assert net(times).voltages[0] is None  # kept only when recorded


def test_rates_are_spikes_per_neuron_per_step():
    # every weight 2: the one input spike of a pattern drives every neuron of the layer above over threshold once
    net = Network(4, functools.partial(LIF, tau_m=2.0, reset="zero"), KERNEL, hidden=[3, 2], output="spiking",
                  readout="spike_count", T=10.0)
    with torch.no_grad():
        for parameter in net.parameters():
            parameter.fill_(2.0)
    raster = torch.zeros(2, 10, 4, dtype=torch.bool)
    raster[0, 2, 1] = raster[0, 5, 3] = raster[1, 9, 0] = True  # pattern 0: spikes at steps 2 and 5; pattern 1: at 9
    output = net(raster)
    rates = output.rates()
    assert sorted(rates) == [0, 1, 2, 3] and net.num_spiking_layers == 3  # input, two hidden layers, the output
    assert rates[0].tolist() == pytest.approx([2 / 40, 1 / 40])
    for layer in (1, 2, 3):  # each spike goes straight up (lif: no delay): 2 and 1 spikes per neuron in 10 steps
        assert rates[layer].tolist() == pytest.approx([2 / 10, 1 / 10])
    assert output.readout.tolist() == [[2.0, 2.0], [1.0, 1.0]]  # two outputs, each counting its spikes


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"hidden": [-5]}, "hidden[0]"),
        ({"hidden": [0]}, "hidden[0]"),
        ({"hidden": [10, {"size": 0}]}, "hidden[1].size"),
        ({"hidden": [{"recurent": True, "size": 3}]}, "hidden[0]"),
        ({"hidden": 12}, "hidden"),
        ({"hidden": [{"size": 4, "neuron": {"tau_m": -1.0}}]}, "hidden[0].neuron.tau_m"),
        ({"readout": "first_spike"}, "readout"),
        ({"readout": "median"}, "readout"),
        ({"output": "relu"}, "output"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"smooth_max_beta": 0.0}, "smooth_max_beta"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        Network(5, CUBA, KERNEL, **kwargs)
    assert raised.value.field == field


def test_per_layer_settings_override_the_network_defaults():
    net = Network(5, CUBA, KERNEL, hidden=[7, {"size": 4, "recurrent": True, "neuron": {"tau_m": 30.0}}])
    first, second = net.hidden
    assert first.recurrent_weight is None and first.neuron.tau_m == 15.0
    assert second.recurrent_weight.shape == (4, 4) and second.neuron.tau_m == 30.0 and second.neuron.tau_s == 3.75
    assert net.num_spiking_layers == 2 and net.num_outputs == 2


def test_dropout_of_hidden_spikes_acts_while_training_only():
    torch.manual_seed(7)
    net = Network(10, CUBA, KERNEL, hidden=[20], num_outputs=3, T=40.0, init_gain=4.0, dropout=0.5)
    plain = Network(10, CUBA, KERNEL, hidden=[20], num_outputs=3, T=40.0)
    plain.load_state_dict(net.state_dict())
    raster = torch.rand(4, 40, 10, generator=torch.Generator().manual_seed(8)) < 0.2
    net.eval(), plain.eval()
    torch.testing.assert_close(net(raster).readout, plain(raster).readout)
    net.train()
    first, second = net(raster), net(raster)
    assert torch.equal(first.spikes[0], second.spikes[0])  # the layer itself spikes alike
    assert not torch.equal(first.readout, second.readout)  # what reaches the output differs
