"""The ANN baselines against their formulas written out."""

import pytest
import torch

from lif.errors import ConfigError
from lif.models.ann import MLP, Perceptron


def test_the_perceptron_is_an_affine_map_of_the_features():
    torch.manual_seed(0)
    model = Perceptron(num_features=6, num_outputs=3)
    features = torch.rand(8, 6)
    output = model(features)
    torch.testing.assert_close(output.readout, features @ model.output.weight.t() + model.output.bias)
    assert output.v_th == 0.0 and output.rates() == {}


def test_the_mlp_is_relu_layers_then_a_linear_output():
    torch.manual_seed(1)
    model = MLP(num_features=5, num_outputs=2, hidden=[7, 4]).eval()
    features = torch.rand(10, 5)
    first, second = model.hidden
    expected = torch.relu(features @ first.weight.t() + first.bias)
    expected = torch.relu(expected @ second.weight.t() + second.bias)
    expected = expected @ model.output.weight.t() + model.output.bias
    torch.testing.assert_close(model(features).readout, expected)


def test_an_mlp_learns_xor_which_a_perceptron_cannot():
    features = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    labels = torch.tensor([0, 1, 1, 0])
    accuracy = {}
    for name, model in (("perceptron", Perceptron(2, 2)), ("mlp", MLP(2, 2, hidden=[16]))):
        torch.manual_seed(2)
        model.apply(lambda module: module.reset_parameters() if hasattr(module, "reset_parameters") else None)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(500):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(features).readout, labels).backward()
            optimizer.step()
        accuracy[name] = (model(features).readout.argmax(dim=1) == labels).float().mean().item()
    assert accuracy["mlp"] == 1.0 and accuracy["perceptron"] <= 0.75  # XOR is not linearly separable


@pytest.mark.parametrize("kwargs, field", [({"hidden": [0]}, "hidden[0]"), ({"dropout": 1.0}, "dropout"), ({"num_outputs": 0}, "num_outputs")])
def test_bad_values_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        MLP(num_features=3, **kwargs)
    assert raised.value.field == field
