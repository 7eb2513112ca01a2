import math

import pytest
import torch

from lif.errors import ConfigError
from lif.kernels import DoubleExponentialKernel, ExponentialKernel


def continuous_den(s, tau_m, tau_s, v_0):
    return [v_0 * (math.exp(-x / tau_m) - math.exp(-x / tau_s)) if x >= 0 else 0.0 for x in s]


@pytest.mark.parametrize("tau_m, tau_s", [(15.0, 3.75), (20.0, 5.0), (10.0, 1.0), (30.0, 29.0)])
def test_peak_is_normalised_to_one(tau_m, tau_s):
    kernel = DoubleExponentialKernel(tau_m, tau_s)
    # Independent check: locate the maximum of the unnormalised kernel numerically.
    fine = torch.linspace(0, 5 * tau_m, 2_000_001, dtype=torch.float64)
    unnormalised = torch.exp(-fine / tau_m) - torch.exp(-fine / tau_s)
    assert kernel.peak_time == pytest.approx(fine[unnormalised.argmax()].item(), abs=1e-4)
    peak = kernel(torch.tensor([kernel.peak_time], dtype=torch.float64)).item()
    assert peak == pytest.approx(1.0, abs=1e-6)
    assert kernel(fine).max().item() <= 1.0 + 1e-9


def test_tempotron_constants():
    kernel = DoubleExponentialKernel(15.0, 3.75)
    assert kernel.peak_time == pytest.approx(6.931, abs=1e-3)
    assert kernel.v_0 == pytest.approx(2.11653, abs=1e-5)


def test_kernel_matches_the_formula_and_is_causal():
    kernel = DoubleExponentialKernel(15.0, 3.75, v_0=2.0)
    s = [-3.0, 0.0, 0.5, 6.9, 40.0]
    expected = continuous_den(s, 15.0, 3.75, 2.0)
    assert kernel(torch.tensor(s, dtype=torch.float64)).tolist() == pytest.approx(expected, abs=1e-12)


def test_exponential_kernel():
    kernel = ExponentialKernel(tau_m=10.0)
    s = torch.tensor([-1.0, 0.0, 10.0], dtype=torch.float64)
    assert kernel(s).tolist() == pytest.approx([0.0, 1.0, math.exp(-1.0)])


def test_decays_are_exact_exponentials_not_euler():
    kernel = DoubleExponentialKernel(15.0, 3.75)
    assert kernel.decays(1.0) == pytest.approx((math.exp(-1 / 15), math.exp(-1 / 3.75)), rel=1e-15)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"tau_m": 3.75, "tau_s": 15.0}, "tau_s"),
        ({"tau_m": 15.0, "tau_s": 15.0}, "tau_s"),
        ({"tau_m": -1.0, "tau_s": 0.5}, "tau_m"),
        ({"tau_m": 15.0, "tau_s": 0.0}, "tau_s"),
        ({"tau_m": 15.0, "tau_s": 3.75, "v_0": -2.0}, "v_0"),
    ],
)
def test_bad_time_constants_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        DoubleExponentialKernel(**kwargs)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: expected")
