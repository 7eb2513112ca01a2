import pytest
import torch

from lif.encoders import LatencyEncoder
from lif.errors import ConfigError


def test_latency_is_proportional_to_the_value_without_rounding():
    encoder = LatencyEncoder(max_value=16.0, duration=500.0)
    times = encoder(torch.tensor([[0.0, 1.0, 8.0, 16.0, 3.3]]))
    assert times.tolist()[0] == pytest.approx([0.0, 31.25, 250.0, 500.0, 103.125])


@pytest.mark.parametrize("values", [[-0.1, 0.5], [0.5, 1.01], [float("nan"), 0.5]])
def test_values_outside_the_range_are_rejected(values):
    with pytest.raises(ConfigError, match=r"max_value: expected every input value in \[0, max_value=1\]"):
        LatencyEncoder(max_value=1.0)(torch.tensor(values))


@pytest.mark.parametrize("kwargs, field", [({"max_value": 0.0}, "max_value"), ({"duration": -1.0}, "duration")])
def test_bad_settings(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        LatencyEncoder(**kwargs)
    assert raised.value.field == field


def test_rate_encoder_fires_at_the_configured_rate():
    from lif.encoders import RateEncoder

    encoder = RateEncoder(max_rate=80.0, max_value=2.0, duration=1000.0, dt=0.5, seed=3)
    values = torch.tensor([[2.0, 1.0, 0.5, 0.0]]).repeat(50, 1)  # 80, 40, 20 and 0 Hz
    raster = encoder(values)
    assert raster.dtype == torch.bool and raster.shape == (50, 2000, 4)
    trials = 50 * 2000
    for feature, rate in enumerate([80.0, 40.0, 20.0, 0.0]):
        p = rate * 0.5 / 1000  # spike probability per step
        count = raster[:, :, feature].sum().item()
        tolerance = 4 * (trials * p * (1 - p)) ** 0.5  # four binomial standard deviations
        assert abs(count - trials * p) <= tolerance, (feature, count, trials * p)
    assert raster[:, :, 3].sum() == 0


def test_rate_encoder_is_reproducible_from_its_seed():
    from lif.encoders import RateEncoder

    values = torch.rand(10, 6)
    first, again = RateEncoder(seed=1, duration=100.0)(values), RateEncoder(seed=1, duration=100.0)(values)
    assert torch.equal(first, again)
    assert not torch.equal(first, RateEncoder(seed=2, duration=100.0)(values))


def test_rate_encoder_rejects_more_than_one_spike_per_step():
    from lif.encoders import RateEncoder

    with pytest.raises(ConfigError, match="max_rate"):
        RateEncoder(max_rate=2000.0, dt=1.0)


def test_population_neuron_with_the_preferred_value_fires_first():
    from lif.encoders import PopulationEncoder

    encoder = PopulationEncoder(num_neurons=5, max_value=4.0, duration=100.0, width=1.0, min_response=0.0)
    assert encoder.centres.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    times = encoder(torch.tensor([[1.0, 3.0]]))  # feature 0 = centre 1, feature 1 = centre 3
    assert times.shape == (1, 10)  # 2 features x 5 neurons
    assert times[0, :5].argmin().item() == 1 and times[0, 1].item() == 0.0
    assert times[0, 5:].argmin().item() == 3
    assert times[0, 0].item() == pytest.approx(100 * (1 - torch.exp(torch.tensor(-0.5)).item()))  # one sigma away


def test_population_neurons_with_weak_responses_stay_silent():
    from lif.encoders import PopulationEncoder

    times = PopulationEncoder(num_neurons=8, min_response=0.1)(torch.tensor([[0.0]]))
    assert torch.isinf(times[0, -1]) and torch.isfinite(times[0, 0])
