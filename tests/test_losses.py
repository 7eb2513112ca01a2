"""Losses against independent references: values, and gradients through a dense voltage tensor."""

import pytest
import torch
from support import dense_reference

from lif.kernels import DoubleExponentialKernel
from lif.losses import CrossEntropyLoss, HingeLoss, IntegrateLoss, targets
from lif.models import network
from lif.models.tempotron import Tempotron


class Readout:
    """A stand-in for a model's output with a given readout (V_max) and threshold."""

    def __init__(self, v_max, v_th=1.0):
        self.readout, self.v_th = v_max, v_th


def test_targets_binary_and_one_vs_rest():
    assert targets(torch.tensor([0, 1, 1]), 1).tolist() == [[-1], [1], [1]]
    assert targets(torch.tensor([2, 0]), 3).tolist() == [[-1, -1, 1], [1, -1, -1]]


def test_hinge_penalises_only_errors_by_their_distance_to_threshold():
    loss = HingeLoss()
    v_max = torch.tensor([[1.5], [0.7], [1.2], [0.2]])
    labels = torch.tensor([1, 1, 0, 0])  # correct, missed by 0.3, false alarm by 0.2, correct
    assert loss(Readout(v_max), labels).tolist() == pytest.approx([0.0, 0.3, 0.2, 0.0])


def test_margin_and_one_vs_rest():
    loss = HingeLoss(margin=0.1)
    v_max = torch.tensor([[1.05, 0.5, 0.95]])  # label 0: output 0 too close, output 2 too close
    assert loss(Readout(v_max), torch.tensor([0])).item() == pytest.approx(0.05 + 0.0 + 0.05)


def tiny_problem(num_outputs, seed=0, v_th=1.0):
    generator = torch.Generator().manual_seed(seed)
    kernel = DoubleExponentialKernel()
    layer = Tempotron(12, kernel, num_outputs=num_outputs, T=60.0, dt=1.0, v_th=v_th, v_rest=0.0, init_std=0.0).double()
    with torch.no_grad():
        layer.weight.copy_(torch.randn(12, num_outputs, generator=generator, dtype=torch.float64) * 0.4)
    times = torch.rand(8, 12, 2, generator=generator, dtype=torch.float64) * 60
    labels = torch.arange(8) % max(2, num_outputs)
    return layer, kernel, times, labels


@pytest.mark.parametrize(
    "loss, num_outputs, reference_loss",
    [
        (CrossEntropyLoss(temperature=0.5), 3, lambda v_max, labels: torch.nn.functional.cross_entropy(v_max / 0.5, labels, reduction="sum")),
        (HingeLoss(), 3, lambda v_max, labels: torch.relu(-(2 * torch.nn.functional.one_hot(labels, 3) - 1) * (v_max - 0.3)).sum()),
    ],
    ids=["cross_entropy", "one_vs_rest_hinge"],
)
def test_multiclass_gradients_match_a_dense_reference(loss, num_outputs, reference_loss):
    layer, kernel, times, labels = tiny_problem(num_outputs, v_th=0.3)
    loss(layer(times), labels).sum().backward()
    weights = layer.weight.detach().clone().requires_grad_()
    v_max = dense_reference(times, weights, kernel, 1.0, 60).max(dim=1).values
    reference_loss(v_max, labels).backward()
    assert weights.grad.abs().sum() > 0
    torch.testing.assert_close(layer.weight.grad, weights.grad)


def test_integrate_rule_follows_the_time_averaged_voltage_on_errors():
    layer, kernel, times, labels = tiny_problem(1, seed=3, v_th=0.5)
    loss = IntegrateLoss()
    output = layer(times)
    values = loss(output, labels)
    values.sum().backward()
    # reference: on each error, -y times the gradient of the mean of the dense voltage
    weights = layer.weight.detach().clone().requires_grad_()
    trace = dense_reference(times, weights, kernel, 1.0, 60)[:, :, 0]
    y = (2 * labels - 1).double()
    wrong = ((trace.max(dim=1).values >= 0.5).long() != labels).double()
    assert 0 < wrong.sum() < len(labels)
    (wrong * -y * trace.mean(dim=1)).sum().backward()
    torch.testing.assert_close(layer.weight.grad, weights.grad)
    torch.testing.assert_close(values, HingeLoss()(output, labels))  # the reported value is the hinge's


def test_plasticity_induction_pushes_afferents_that_spiked_in_silent_targets():
    layer, kernel, times, labels = tiny_problem(1, seed=5)
    times[0, :3] = float("inf")  # afferents 0-2 stay silent in pattern 0
    with torch.no_grad():
        layer.weight.fill_(0.01)  # every pattern stays below threshold: label-1 patterns are silent targets
    eps = 0.25
    plain, induced = HingeLoss(), HingeLoss(plasticity_induction=eps)
    (plain_grad,) = torch.autograd.grad(plain(layer(times), labels).sum(), layer.weight)
    values = induced(layer(times), labels)
    (induced_grad,) = torch.autograd.grad(values.sum(), layer.weight)
    counts = ((times >= 0) & (times < 60)).sum(dim=-1).double()  # spikes in the window, per afferent and pattern
    silent_targets = (labels == 1).double()
    expected = plain_grad[:, 0] - eps * (silent_targets[:, None] * counts).sum(dim=0)
    torch.testing.assert_close(induced_grad[:, 0], expected)
    torch.testing.assert_close(values, plain(layer(times), labels))  # the value is unchanged


def test_cross_entropy_needs_one_output_per_class():
    from lif.errors import ConfigError

    with pytest.raises(ConfigError, match="num_outputs"):
        CrossEntropyLoss().check(1)


def test_plasticity_induction_combines_with_the_integrate_rule():
    layer, kernel, times, labels = tiny_problem(1, seed=5)
    with torch.no_grad():
        layer.weight.fill_(0.01)
    (plain,) = torch.autograd.grad(IntegrateLoss()(layer(times), labels).sum(), layer.weight)
    (induced,) = torch.autograd.grad(IntegrateLoss(plasticity_induction=0.5)(layer(times), labels).sum(), layer.weight)
    counts = ((times >= 0) & (times < 60)).sum(dim=-1).double()
    torch.testing.assert_close(induced[:, 0], plain[:, 0] - 0.5 * (counts * (labels == 1).double()[:, None]).sum(dim=0))


def test_firing_rate_bounds_penalise_silent_neurons_and_busy_layers():
    def NetworkOutput(spikes):
        return network.NetworkOutput(torch.zeros(2, 3), 1.0, spikes, num_steps=4)

    # pattern 0: neuron rates (0, 0.5) -> mean 0.25; pattern 1: (0.75, 1.0) -> mean 0.875 (4 steps)
    spikes = torch.tensor([[[0, 1], [0, 0], [0, 1], [0, 0]], [[1, 1], [1, 1], [0, 1], [1, 1]]], dtype=torch.float64)
    loss = CrossEntropyLoss(rate_penalty=2.0, rate_min=0.1, rate_max=0.5)
    plain = CrossEntropyLoss()
    labels = torch.tensor([0, 1])
    penalty = loss(NetworkOutput([spikes, spikes]), labels) - plain(NetworkOutput([spikes, spikes]), labels)
    below = torch.tensor([(0.1**2 + 0) / 2, 0.0])  # neuron 0 of pattern 0 is silent: (0.1 - 0)^2, averaged over 2 neurons
    above = torch.tensor([0.0, (0.875 - 0.5) ** 2])
    torch.testing.assert_close(penalty, 2.0 * 2 * (below + above).double())  # two layers alike
    assert torch.equal(HingeLoss()(NetworkOutput([spikes]), labels), HingeLoss()(Readout(torch.zeros(2, 3)), labels))
