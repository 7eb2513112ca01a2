import pytest

from lif.env import Environment, num_steps
from lif.errors import ConfigError


def test_grid_length():
    assert num_steps(500.0, 1.0) == 500
    assert num_steps(500.0, 0.1) == 5000
    assert Environment(T=100.0, dt=0.5).num_steps == 200


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"T": 0.0}, "T"),
        ({"T": -5.0}, "T"),
        ({"dt": 0.0}, "dt"),
        ({"dt": -1.0}, "dt"),
        ({"T": 10.0, "dt": 20.0}, "dt"),
        ({"T": 10.0, "dt": 3.0}, "dt"),
        ({"v_th": 0.0, "v_rest": 0.5}, "v_th"),
        ({"device": "tpu9"}, "device"),
    ],
)
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        Environment(**kwargs)
    assert raised.value.field == field
