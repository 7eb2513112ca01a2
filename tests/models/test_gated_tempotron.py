"""The gated tempotron against its formulas written out with the dense reference of tests/support.py."""

import math

import pytest
import torch
from support import dense_reference

from lif.errors import ConfigError
from lif.kernels import DoubleExponentialKernel
from lif.models.gated_tempotron import GatedTempotron
from lif.models.tempotron import Tempotron

KERNEL = DoubleExponentialKernel()


def problem(seed=0, batch=9, afferents=12, features=5):
    generator = torch.Generator().manual_seed(seed)
    times = torch.rand(batch, afferents, generator=generator, dtype=torch.float64) * 110 - 5
    sample = torch.rand(batch, features, generator=generator, dtype=torch.float64)
    return times, sample


def layer(**kwargs):
    settings = dict(num_afferents=12, num_features=5, kernel=KERNEL, num_outputs=3, num_branches=4, T=100.0, dt=1.0,
                    v_rest=0.1, gate_seed=3)
    torch.manual_seed(0)
    return GatedTempotron(**{**settings, **kwargs}).double()


def written_out_voltage(model, times, sample):
    """V[b, k, o] = v_rest + 1/sqrt(M N) sum_m g_m(X_b) sum_i W[m, i, o] x_i(t_k), term by term."""
    drive = sample @ model.gate_weight
    gates = {"linear": drive, "heaviside": (drive > 0).double(), "sigmoid": 1 / (1 + torch.exp(-drive)),
             "none": torch.ones_like(drive)}[model.gate]
    if model.gate_softmax:
        gates = torch.exp(gates) / torch.exp(gates).sum(dim=1, keepdim=True)
    total = 0.0
    for m in range(model.num_branches):
        branch = dense_reference(times, model.weight[m], KERNEL, 1.0, 100)  # [B, L, O]
        total = total + gates[:, m, None, None] * branch
    return total / math.sqrt(model.num_branches * model.num_afferents) + model.v_rest


@pytest.mark.parametrize("gate", ["linear", "heaviside", "sigmoid", "none"])
@pytest.mark.parametrize("softmax", [False, True])
def test_sample_gates_give_the_written_out_voltage_and_its_maximum(gate, softmax):
    times, sample = problem()
    model = layer(gate=gate, gate_softmax=softmax)
    reference = written_out_voltage(model, times, sample)
    torch.testing.assert_close(model.voltage(times, sample), reference)
    output = model(times, sample)
    torch.testing.assert_close(output.readout, reference.max(dim=1).values)
    torch.testing.assert_close(output.t_max, reference.argmax(dim=1).double())


def test_the_gradient_is_the_gate_times_the_psp_at_t_max():
    times, sample = problem(1)
    model = layer(gate="heaviside")
    upstream = torch.randn(9, 3, dtype=torch.float64)
    output = model(times, sample)
    (output.readout * upstream).sum().backward()
    gates = (sample @ model.gate_weight > 0).double()  # [B, M]
    expected = torch.zeros_like(model.weight)
    for b in range(9):
        for o in range(3):
            t_max = output.t_max[b, o].item()
            psp = KERNEL(torch.tensor(t_max, dtype=torch.float64) - times[b]).nan_to_num()  # sum_j K(t_max - t_i^j), one spike each
            psp = psp * (times[b] <= t_max)
            expected[:, :, o] += upstream[b, o] * gates[b][:, None] * psp[None, :] / math.sqrt(4 * 12)
    torch.testing.assert_close(model.weight.grad, expected)


def test_one_branch_without_gates_is_the_plain_tempotron():
    times, sample = problem(2)
    gated = layer(num_branches=1, gate="none")
    plain = Tempotron(num_afferents=12, kernel=KERNEL, num_outputs=3, T=100.0, dt=1.0, v_rest=0.1).double()
    with torch.no_grad():
        plain.weight.copy_(gated.weight[0] / math.sqrt(12))
    gated_output, plain_output = gated(times, sample), plain(times)
    torch.testing.assert_close(gated_output.readout, plain_output.readout)
    gated_output.readout.sum().backward()
    plain_output.readout.sum().backward()
    torch.testing.assert_close(gated.weight.grad[0], plain.weight.grad / math.sqrt(12))


def test_the_smooth_max_readout_of_the_gated_voltage():
    times, sample = problem(3)
    model = layer(gate="sigmoid", readout="smooth_max", smooth_max_beta=2.0)
    reference = torch.log(torch.exp(2.0 * written_out_voltage(model, times, sample)).mean(dim=1)) / 2.0
    torch.testing.assert_close(model(times, sample).readout, reference)


def test_threshold_gates_open_with_the_kernel_at_each_upward_crossing():
    times, sample = problem(4)
    model = layer(gate="threshold", gate_threshold=0.05)
    unit = dense_reference(times, model.gate_weight, KERNEL, 1.0, 100)  # theta_m(t_k), [B, L, M]
    grid = torch.arange(100, dtype=torch.float64)
    gates = torch.zeros_like(unit)
    for b in range(9):
        for m in range(4):
            for k in range(100):
                if unit[b, k, m] >= 0.05 and (k == 0 or unit[b, k - 1, m] < 0.05):
                    gates[b, :, m] += KERNEL((grid - k).clamp(min=-1)) * (grid >= k)
    assert gates.abs().sum() > 0  # some gates opened
    expected = 0.0
    for m in range(4):
        expected = expected + gates[:, :, m, None] * dense_reference(times, model.weight[m], KERNEL, 1.0, 100)
    expected = expected / math.sqrt(4 * 12) + 0.1
    torch.testing.assert_close(model.voltage(times, sample), expected)
    torch.testing.assert_close(model(times, sample).readout, expected.max(dim=1).values)


def test_gates_are_fixed_buffers_that_training_never_changes():
    times, sample = problem(5)
    model = layer(gate="linear")
    gate_weight = model.gate_weight.clone()
    assert [name for name, _ in model.named_parameters()] == ["weight"]
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    model(times, sample).readout.sum().backward()
    optimizer.step()
    assert torch.equal(model.gate_weight, gate_weight) and "gate_weight" in model.state_dict()
    assert torch.equal(layer(gate="linear").gate_weight, gate_weight)  # the same gates from the same gate_seed


def test_constant_initialisation_is_one_over_sqrt_n():
    weight = layer(init="constant").weight.detach()
    torch.testing.assert_close(weight, torch.full_like(weight, 1 / math.sqrt(12)), rtol=1e-7, atol=0)  # float32, made double


@pytest.mark.parametrize("kwargs, field", [
    ({"num_branches": 0}, "num_branches"), ({"gate": "relu"}, "gate"), ({"init": "xavier"}, "init"),
    ({"readout": "mean"}, "readout"), ({"smooth_max_beta": -1.0}, "smooth_max_beta"), ({"gate_threshold": float("nan")}, "gate_threshold"),
])
def test_bad_values_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        layer(**kwargs)
    assert raised.value.field == field


def test_a_gated_layer_with_one_branch_per_input_gated_by_that_input_is_a_relu_layer():
    # M = N branches, gate m = H(X_m) (gate units that read input m alone), branch m's weights
    # pick input m: sum_m H(X_m) sum_i W[m, i, o] X_i = sum_m A[m, o] relu(X_m).
    n, outputs = 6, 3
    model = layer(num_afferents=n, num_features=n, num_branches=n, num_outputs=outputs, gate="heaviside")
    generator = torch.Generator().manual_seed(7)
    readout_weights = torch.randn(n, outputs, generator=generator, dtype=torch.float64)  # A [N, O]
    with torch.no_grad():
        model.gate_weight.copy_(torch.eye(n))
        model.weight.copy_(torch.eye(n)[:, :, None] * readout_weights[:, None, :])  # W[m, i, o] = delta_mi A[m, o]
    sample = torch.randn(20, n, generator=generator, dtype=torch.float64)
    gated = torch.einsum("bi,bio->bo", sample, model.effective_weights(sample)) * math.sqrt(n * n)
    torch.testing.assert_close(gated, torch.relu(sample) @ readout_weights)


def test_plasticity_induction_pushes_the_effective_weights_of_afferents_that_spiked():
    from lif.losses import HingeLoss

    times, sample = problem(8)
    times[0, :4] = float("inf")  # afferents 0-3 stay silent in pattern 0
    model = layer(num_outputs=1, gate="sigmoid")
    with torch.no_grad():
        model.weight.fill_(0.01)  # every pattern stays below threshold: label-1 patterns are silent targets
    labels = torch.tensor([1, 0, 1, 1, 0, 1, 0, 0, 1])
    eps = 0.5
    plain, induced = HingeLoss(), HingeLoss(plasticity_induction=eps)
    HingeLoss(plasticity_induction=eps).check_model(model)  # accepted for the gated tempotron
    (plain_grad,) = torch.autograd.grad(plain(model(times, sample), labels).sum(), model.weight)
    (induced_grad,) = torch.autograd.grad(induced(model(times, sample), labels).sum(), model.weight)
    counts = ((times >= 0) & (times < 100)).double()  # [B, N], one spike per afferent at most
    gates = torch.sigmoid(sample @ model.gate_weight)  # d W_eff[b, i] / d W[m, i] = g_bm / sqrt(M N)
    push = torch.einsum("b,bm,bi->mi", (labels == 1).double(), gates, counts) / math.sqrt(4 * 12)
    torch.testing.assert_close(induced_grad[:, :, 0], plain_grad[:, :, 0] - eps * push)
