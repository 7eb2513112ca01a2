"""Readouts on voltages and spikes written by hand."""

import math

import pytest
import torch

from lif.errors import ConfigError
from lif.exact.smooth_max import smooth_max
from lif.models.readouts import check_readout, decision_threshold, first_spike_time, read_out

VOLTAGES = torch.tensor([[[0.1, -1.0], [0.7, -0.5], [0.4, -0.2]]])  # [B=1, L=3, O=2]
SPIKES = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])  # [B=1, L=4, O=2]


def test_voltage_readouts():
    assert read_out("max", VOLTAGES, None, 1.0)[0].tolist() == pytest.approx([0.7, -0.2])
    assert read_out("mean", VOLTAGES, None, 1.0)[0].tolist() == pytest.approx([0.4, -1.7 / 3])
    assert read_out("last", VOLTAGES, None, 1.0)[0].tolist() == pytest.approx([0.4, -0.2])


def test_spike_readouts_count_and_time_the_first_spike():
    assert read_out("spike_count", None, SPIKES, 0.5).tolist() == [[2.0, 1.0]]
    assert first_spike_time(SPIKES, 0.5).tolist() == [[0.5, 1.5]]  # steps 1 and 3, dt = 0.5 ms
    assert read_out("first_spike", None, SPIKES, 0.5).tolist() == [[-0.5, -1.5]]  # the earliest output wins
    silent = torch.zeros(1, 4, 1)
    assert first_spike_time(silent, 0.5).tolist() == [[2.0]]  # never: L dt


def test_first_spike_time_moves_earlier_with_an_earlier_spike():
    spikes = SPIKES.clone().requires_grad_()
    first_spike_time(spikes, 1.0).sum().backward()
    # before the first spike (steps 0) raising s lowers t_first by the steps it would save
    assert spikes.grad[0, 0, 0] == -1.0 and spikes.grad[0, 0, 1] == -3.0
    assert spikes.grad[0, 2, 0] == 0.0  # after the first spike nothing changes it


def test_smooth_max_lies_between_the_mean_and_the_max_and_tends_to_the_max():
    generator = torch.Generator().manual_seed(0)
    values = torch.randn(4, 50, 3, generator=generator, dtype=torch.float64)
    maximum, mean = values.max(dim=1).values, values.mean(dim=1)
    previous = None
    for beta in (0.01, 1.0, 10.0, 100.0, 1e4):
        soft = smooth_max(values, beta, dim=1)
        assert torch.all(soft <= maximum + 1e-12) and torch.all(soft >= mean - 1e-12)
        if previous is not None:
            assert torch.all(soft >= previous - 1e-12)  # increasing in beta
        previous = soft
    torch.testing.assert_close(smooth_max(values, 1e4, dim=1), maximum, rtol=0, atol=math.log(50) / 1e4 + 1e-12)
    torch.testing.assert_close(smooth_max(values, 1e-6, dim=1), mean, rtol=0, atol=1e-4)


def test_smooth_max_gradient_is_the_softmax_weighting():
    values = torch.randn(2, 20, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_()
    smooth_max(values, 3.0, dim=1).sum().backward()
    torch.testing.assert_close(values.grad, torch.softmax(3.0 * values.detach(), dim=1))


def test_binary_decision_thresholds():
    assert decision_threshold("max", 1.5, 10, 1.0) == 1.5
    assert decision_threshold("spike_count", 1.5, 10, 1.0) == 0.5
    threshold = decision_threshold("first_spike", 1.5, 10, 1.0)
    assert -10.0 < threshold < -9.0  # a spike at the last step (-9) says yes, none (-10) says no


def test_spike_readouts_need_a_spiking_output():
    with pytest.raises(ConfigError, match="readout"):
        check_readout("first_spike", spiking_output=False)
    check_readout("first_spike", spiking_output=True)
