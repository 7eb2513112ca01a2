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
