import pytest
import torch

from lif.errors import ConfigError
from lif.kernels import DoubleExponentialKernel
from lif.models.tempotron import Tempotron


def test_forward_is_the_maximum_of_the_trace():
    torch.manual_seed(0)
    layer = Tempotron(num_afferents=30, kernel=DoubleExponentialKernel(), num_outputs=3, T=100.0, dt=0.5, v_rest=0.2)
    times = torch.rand(5, 30) * 100
    output = layer(times)
    v_max, t_max = output.v_max, output.t_max
    trace = layer.voltage(times)
    assert trace.shape == (5, 200, 3)
    torch.testing.assert_close(v_max, trace.max(dim=1).values)
    torch.testing.assert_close(t_max, trace.argmax(dim=1).float() * 0.5)


def test_initial_weights_follow_the_configured_distribution():
    torch.manual_seed(0)
    layer = Tempotron(num_afferents=20_000, kernel=DoubleExponentialKernel(), init_mean=0.1, init_std=0.05)
    assert layer.weight.shape == (20_000, 1)
    assert layer.weight.mean().item() == pytest.approx(0.1, abs=0.002)
    assert layer.weight.std().item() == pytest.approx(0.05, rel=0.03)


@pytest.mark.parametrize(
    "kwargs, field",
    [({"init_std": -1.0}, "init_std"), ({"num_outputs": 0}, "num_outputs"), ({"dt": 0.0}, "dt"), ({"T": -1.0}, "T")],
)
def test_bad_arguments_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        Tempotron(num_afferents=10, kernel=DoubleExponentialKernel(), **kwargs)
    assert raised.value.field == field


def test_the_smooth_max_readout_is_the_soft_maximum_of_the_trace():
    torch.manual_seed(1)
    layer = Tempotron(num_afferents=30, kernel=DoubleExponentialKernel(), num_outputs=2, T=100.0, dt=0.5,
                      readout="smooth_max", smooth_max_beta=3.0)
    times = torch.rand(6, 30) * 100
    output = layer(times)
    trace = layer.voltage(times).double()
    torch.testing.assert_close(output.readout.double(), torch.log(torch.exp(3.0 * trace).mean(dim=1)) / 3.0, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(output.v_max, trace.max(dim=1).values.float())  # still there, on demand
    assert output.readout.requires_grad and not output.v_max.requires_grad


@pytest.mark.parametrize("kwargs, field", [({"readout": "softest"}, "readout"), ({"smooth_max_beta": 0.0}, "smooth_max_beta"),
                                           ({"smooth_max_beta": float("inf")}, "smooth_max_beta")])
def test_bad_readout_settings_name_their_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        Tempotron(num_afferents=3, kernel=DoubleExponentialKernel(), **kwargs)
    assert raised.value.field == field
