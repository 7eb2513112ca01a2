"""Multi-layer tempotron networks against their layers written out on dense traces (tests/support.py)."""

import math

import pytest
import torch
from support import dense_reference

from lif.errors import ConfigError
from lif.kernels import DoubleExponentialKernel
from lif.models.gated_tempotron import GatedTempotron
from lif.models.tempotron_network import TempotronNetwork

KERNEL = DoubleExponentialKernel()
BATCH, AFFERENTS, FEATURES, STEPS = 7, 10, 4, 100


def problem(seed=0):
    generator = torch.Generator().manual_seed(seed)
    times = torch.rand(BATCH, AFFERENTS, generator=generator, dtype=torch.float64) * 110 - 5
    sample = torch.rand(BATCH, FEATURES, generator=generator, dtype=torch.float64) - 0.5
    return times, sample


def network(**kwargs):
    settings = dict(num_afferents=AFFERENTS, num_features=FEATURES, kernel=KERNEL, num_outputs=3, hidden=[6, 5],
                    num_branches=3, T=100.0, dt=1.0, v_rest=0.1, gate_seed=2, gate="sigmoid")
    torch.manual_seed(0)
    return TempotronNetwork(**{**settings, **kwargs}).double()


def written_out_voltage(model, times, sample):
    """z^0 = x(t) on the grid, then each layer's gated sum term by term; V = v_rest + z^L."""
    z = dense_reference(times, torch.eye(AFFERENTS, dtype=torch.float64), KERNEL, 1.0, STEPS)  # [B, L, N]
    last = len(model.weights) - 1
    for layer, weight in enumerate(model.weights):
        branches, fan_in, fan_out = weight.shape
        if model.gating == "weights":
            gates = torch.sigmoid(sample @ getattr(model, f"gate_weight_{layer}"))  # [B, M]
            z = sum(gates[:, m, None, None] * (z @ weight[m]) for m in range(branches)) / math.sqrt(branches * fan_in)
        else:
            gates = torch.ones(len(sample), fan_out, dtype=z.dtype) if layer == last else torch.sigmoid(sample @ getattr(model, f"gate_weight_{layer}"))
            z = gates[:, None, :] * (z @ weight[0]) / math.sqrt(fan_in)
    return z + model.v_rest


@pytest.mark.parametrize("gating", ["weights", "activation"])
def test_the_voltage_and_its_maximum_are_the_layers_written_out(gating):
    times, sample = problem()
    model = network(gating=gating)
    reference = written_out_voltage(model, times, sample)
    torch.testing.assert_close(model.voltage(times, sample), reference)
    output = model(times, sample)
    torch.testing.assert_close(output.readout, reference.max(dim=1).values)
    torch.testing.assert_close(output.t_max, reference.argmax(dim=1).double())


@pytest.mark.parametrize("gating", ["weights", "activation"])
def test_the_exact_rule_is_autograd_through_the_dense_network(gating):
    times, sample = problem(1)
    model = network(gating=gating)
    upstream = torch.randn(BATCH, 3, dtype=torch.float64)
    (model(times, sample).readout * upstream).sum().backward()
    exact = [weight.grad.clone() for weight in model.weights]
    model.zero_grad()
    (written_out_voltage(model, times, sample).max(dim=1).values * upstream).sum().backward()
    for ours, reference in zip(exact, model.weights):
        torch.testing.assert_close(ours, reference.grad)


def test_the_tmax_rule_samples_the_hidden_layers_at_the_winners_peak():
    times, sample = problem(2)
    model = network(learning_rule="tmax")
    upstream = torch.randn(BATCH, 3, dtype=torch.float64)
    output = model(times, sample)
    reference_output = written_out_voltage(model, times, sample)
    torch.testing.assert_close(output.readout, reference_output.max(dim=1).values)  # the values stay exact
    (output.readout * upstream).sum().backward()
    rule = [weight.grad.clone() for weight in model.weights]
    model.zero_grad()
    # reference: the output layer reads z^{L-1} at each output's own peak, the hidden layers at t*
    x = dense_reference(times, torch.eye(AFFERENTS, dtype=torch.float64), KERNEL, 1.0, STEPS)
    peaks = reference_output.argmax(dim=1)  # [B, O]
    winner_peak = peaks.gather(1, reference_output.max(dim=1).values.argmax(dim=1, keepdim=True))[:, 0]  # [B]
    z = x
    for layer, weight in enumerate(model.weights[:-1]):
        gates = torch.sigmoid(sample @ getattr(model, f"gate_weight_{layer}"))
        z = sum(gates[:, m, None, None] * (z @ weight[m]) for m in range(3)) / math.sqrt(3 * weight.shape[1])
    gates = torch.sigmoid(sample @ model.gate_weight_2)
    output_map = torch.einsum("bm,mho->bho", gates, model.weights[2]) / math.sqrt(3 * 5)  # [B, H, O]
    surrogate = 0.0
    for b in range(BATCH):
        for o in range(3):
            at_own_peak = z[b, peaks[b, o]].detach() @ output_map[b, :, o]
            at_winner_peak = z[b, winner_peak[b]] @ output_map[b, :, o].detach()
            surrogate = surrogate + upstream[b, o] * (at_own_peak + at_winner_peak)
    surrogate.backward()
    for ours, reference in zip(rule, model.weights):
        torch.testing.assert_close(ours, reference.grad)
    exact = network()  # the same weights under the exact rule
    (exact(times, sample).readout * upstream).sum().backward()
    torch.testing.assert_close(rule[2], exact.weights[2].grad)  # the output layer's rule is exact
    assert not torch.allclose(rule[0], exact.weights[0].grad)  # several outputs: the hidden layers' rules differ


def test_with_one_output_the_two_rules_agree():
    times, sample = problem(3)
    gradients = {}
    for rule in ("exact", "tmax"):
        model = network(learning_rule=rule, num_outputs=1)
        model(times, sample).readout.sum().backward()
        gradients[rule] = [weight.grad for weight in model.weights]
    for exact, tmax in zip(gradients["exact"], gradients["tmax"]):
        torch.testing.assert_close(exact, tmax)


def test_without_hidden_layers_it_is_the_gated_tempotron():
    times, sample = problem(4)
    model = network(hidden=[], gate="heaviside")
    gated = GatedTempotron(num_afferents=AFFERENTS, num_features=FEATURES, kernel=KERNEL, num_outputs=3, num_branches=3,
                           gate="heaviside", T=100.0, dt=1.0, v_rest=0.1).double()
    with torch.no_grad():
        gated.weight.copy_(model.weights[0])
        gated.gate_weight.copy_(model.gate_weight_0)
    torch.testing.assert_close(model(times, sample).readout, gated(times, sample).readout)


def test_the_smooth_max_readout_of_the_network_voltage():
    times, sample = problem(5)
    model = network(readout="smooth_max", smooth_max_beta=3.0)
    reference = torch.log(torch.exp(3.0 * written_out_voltage(model, times, sample)).mean(dim=1)) / 3.0
    torch.testing.assert_close(model(times, sample).readout, reference)


def test_gates_are_fixed_buffers_and_each_layer_has_its_own():
    times, sample = problem(6)
    model = network(gating="activation")
    assert [name for name, _ in model.named_parameters()] == ["weights.0", "weights.1", "weights.2"]
    assert sorted(name for name, _ in model.named_buffers()) == ["gate_weight_0", "gate_weight_1"]  # the output is ungated
    buffers = {name: buffer.clone() for name, buffer in model.named_buffers()}
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model(times, sample).readout.sum().backward()
    optimizer.step()
    assert all(torch.equal(buffer, buffers[name]) for name, buffer in model.named_buffers())
    assert not torch.equal(model.gate_weight_0[:, :5], model.gate_weight_1[:, :5])


@pytest.mark.parametrize("kwargs, field", [
    ({"hidden": [0]}, "hidden"), ({"gating": "both"}, "gating"), ({"gate": "threshold"}, "gate"),
    ({"learning_rule": "feedback_alignment"}, "learning_rule"), ({"learning_rule": "tmax", "readout": "smooth_max"}, "learning_rule"),
    ({"num_branches": 0}, "num_branches"), ({"readout": "mean"}, "readout"), ({"init_std": -1.0}, "init_std"),
])
def test_bad_values_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        network(**kwargs)
    assert raised.value.field == field
