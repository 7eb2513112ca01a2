"""Each neuron model on inputs computed by hand, below threshold against the exact path, and against snnTorch."""

import math

import pytest
import torch

from lif import exact
from lif.errors import ConfigError
from lif.stepped.alif import ALIF
from lif.stepped.cuba import CUBA
from lif.stepped.li import LI
from lif.stepped.lif import LIF
from lif.stepped.simulate import simulate
from lif.stepped.surrogates import FastSigmoid

HALF = 1 / math.log(2.0)  # a time constant (ms, dt = 1 ms) whose decay per step is 1/2
QUARTER = 1 / math.log(4.0)  # decay 1/4 per step


def run(neuron, inputs):
    current = torch.tensor(inputs, dtype=torch.float64).view(1, -1, 1)
    spikes, voltages = simulate(neuron.double(), current)
    return (None if spikes is None else spikes.flatten().tolist()), voltages.flatten().tolist()


@pytest.mark.parametrize(
    "reset, spikes, voltages",
    [
        ("subtract", [0, 0, 1, 0, 1, 0], [0.6, 0.9, 1.05, 0.025, 2.0125, 0.50625]),
        ("zero", [0, 0, 1, 0, 1, 0], [0.6, 0.9, 1.05, 0.0, 2.0, 0.0]),
        ("none", [0, 0, 1, 0, 1, 1], [0.6, 0.9, 1.05, 0.525, 2.2625, 1.13125]),
    ],
)
def test_lif_spikes_and_resets_as_computed_by_hand(reset, spikes, voltages):
    # u[k] = u[k-1] / 2 + input[k]; spike at u >= 1; the voltages are before the reset
    got_spikes, got_voltages = run(LIF(tau_m=HALF, reset=reset), [0.6, 0.6, 0.6, 0.0, 2.0, 0.0])
    assert got_spikes == spikes
    assert got_voltages == pytest.approx(voltages, abs=1e-12)


def test_reset_to_zero_goes_to_v_reset_and_voltages_include_v_rest():
    # v_rest = -1, v_th = 0, v_reset = -0.5: from rest u = V + 1, threshold 1, reset level 0.5
    neuron = LIF(tau_m=HALF, v_th=0.0, v_rest=-1.0, v_reset=-0.5, reset="zero")
    spikes, voltages = run(neuron, [1.2, 0.0, 0.9])
    assert spikes == [1, 0, 1]  # u: 1.2 -> 0.5; 0.25; 1.025
    assert voltages == pytest.approx([0.2, -0.75, 0.025], abs=1e-12)


def test_cuba_spikes_and_resets_as_computed_by_hand():
    # d_m = 1/2, d_s = 1/4, v_0 = 2: c = 2 (1/2 - 1/4) = 1/2. i[k] = i/4 + input, u[k] = u/2 + i[k-1]/2
    spikes, voltages = run(CUBA(tau_m=HALF, tau_s=QUARTER, v_0=2.0), [4.4, 0.0, 0.0, 0.0, 0.0])
    assert spikes == [0, 1, 1, 0, 0]
    assert voltages == pytest.approx([0.0, 2.2, 1.15, 0.2125, 0.140625], abs=1e-12)


def test_alif_threshold_rises_with_each_spike_as_computed_by_hand():
    neuron = ALIF(tau_m=HALF, tau_a=HALF, beta=0.5).double()
    current = torch.tensor([1.2, 0.0, 0.9, 0.9, 0.9], dtype=torch.float64).view(1, -1, 1)
    state, dynamics = neuron.initial_state(current[:, 0]), neuron.dynamics()
    spikes, thresholds = [], []
    for k in range(5):
        spike, _, state = neuron.step(current[:, k], state, dynamics)
        spikes.append(int(spike))
        thresholds.append(1.0 + 0.5 * float(state.a))
    assert spikes == [1, 0, 0, 1, 0]  # a plain LIF would fire at step 4 too (u = 1.0875)
    assert thresholds == pytest.approx([1.0, 1.5, 1.25, 1.125, 1.5625], abs=1e-12)
    _, voltages = run(ALIF(tau_m=HALF, tau_a=HALF, beta=0.5), [1.2, 0.0, 0.9, 0.9, 0.9])
    assert voltages == pytest.approx([1.2, 0.1, 0.95, 1.375, 1.0875], abs=1e-12)


def test_alif_without_adaptation_is_lif():
    current = torch.randn(3, 50, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    lif = simulate(LIF(tau_m=10.0).double(), current)
    alif = simulate(ALIF(tau_m=10.0, beta=0.0).double(), current)
    assert torch.equal(lif[0], alif[0]) and torch.equal(lif[1], alif[1])


def exact_and_stepped(neuron, kernel_voltage_kernel, times, weights, dt, num_steps):
    """The exact path's voltage and the stepped neuron's, driven by the same gridded spikes."""
    kernel = neuron.kernel()
    spikes = exact.grid_spikes(times, kernel, dt, num_steps, weights.dtype)
    terms = exact.input_currents(spikes, weights, num_steps).transpose(1, 2)  # [B, L, N_out, C]
    current, direct = neuron.drive(terms)
    _, stepped = simulate(neuron, current, direct)
    return exact.voltage(times, weights, kernel_voltage_kernel, dt, num_steps, v_rest=neuron.v_rest), stepped


@pytest.mark.parametrize("dt", [1.0, 0.25])
def test_cuba_at_infinite_threshold_is_the_exact_path(dt):
    from lif.kernels import DoubleExponentialKernel

    generator = torch.Generator().manual_seed(1)
    times = torch.rand(5, 30, 2, generator=generator, dtype=torch.float64) * 120 - 10  # off the grid, some before 0
    weights = torch.randn(30, 4, generator=generator, dtype=torch.float64)
    neuron = CUBA(tau_m=15.0, tau_s=3.75, v_th=math.inf, dt=dt, v_rest=0.3).double()
    reference, stepped = exact_and_stepped(neuron, DoubleExponentialKernel(15.0, 3.75), times, weights, dt, round(100 / dt))
    torch.testing.assert_close(stepped, reference, rtol=0, atol=1e-12)


def test_lif_at_infinite_threshold_is_the_exponential_kernel_path():
    from lif.kernels import ExponentialKernel

    generator = torch.Generator().manual_seed(2)
    times = torch.rand(4, 20, generator=generator, dtype=torch.float64) * 80
    weights = torch.randn(20, 3, generator=generator, dtype=torch.float64)
    reference, stepped = exact_and_stepped(LIF(tau_m=8.0, v_th=math.inf).double(), ExponentialKernel(8.0), times, weights, 1.0, 90)
    torch.testing.assert_close(stepped, reference, rtol=0, atol=1e-12)


def test_leaky_integrator_steps_equal_the_exact_filter():
    from lif.kernels import DoubleExponentialKernel

    generator = torch.Generator().manual_seed(3)
    raster = torch.rand(3, 70, 12, generator=generator) < 0.1
    weights = torch.randn(12, 2, generator=generator, dtype=torch.float64)
    _, stepped = simulate(LI(tau_m=12.0, tau_s=2.0).double(), raster.double() @ weights)
    torch.testing.assert_close(stepped, exact.voltage(raster, weights, DoubleExponentialKernel(12.0, 2.0), 1.0, 70))


def snntorch_run(layer, inputs, *states):
    spikes, voltages = [], []
    for k in range(inputs.shape[1]):
        spike, *states = layer(inputs[:, k], *states)
        spikes.append(spike)
        voltages.append(states[-1])
    return torch.stack(spikes, 1), torch.stack(voltages, 1)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_equals_snntorch_leaky_in_float64(reset):
    import snntorch

    generator = torch.Generator().manual_seed(4)
    current = torch.rand(8, 200, 16, generator=generator, dtype=torch.float64) * 0.5
    tau_m = 10.0
    spikes, voltages = simulate(LIF(tau_m=tau_m, reset=reset).double(), current)
    # snnTorch's Leaky with the same decay, resetting right after the spike (reset_delay=False), reports
    # the membrane after the reset; ours is before it.
    leaky = snntorch.Leaky(beta=torch.tensor(math.exp(-1 / tau_m), dtype=torch.float64), reset_mechanism=reset, reset_delay=False).double()
    their_spikes, their_after = snntorch_run(leaky, current, torch.zeros(8, 16, dtype=torch.float64))
    assert spikes.sum() > 50
    assert torch.equal(spikes, their_spikes)
    after = voltages - spikes if reset == "subtract" else voltages * (1 - spikes)
    torch.testing.assert_close(after, their_after, rtol=0, atol=1e-12)


def test_cuba_equals_snntorch_synaptic_in_float64():
    import snntorch

    generator = torch.Generator().manual_seed(5)
    current = torch.rand(8, 200, 16, generator=generator, dtype=torch.float64) * 0.6
    neuron = CUBA(tau_m=12.0, tau_s=4.0).double()
    spikes, voltages = simulate(neuron, current)
    # snnTorch's Synaptic adds the current of the same step (mem[k] = beta mem[k-1] + syn[k]); ours the
    # current of the step before, scaled by c. Both are the same filter when snnTorch is given the input
    # one step late, times c: then syn = c i[k-1] and mem = u.
    coupling = float(neuron.integration().coupling)
    late = torch.nn.functional.pad(current, (0, 0, 1, 0))[:, :-1] * coupling
    synaptic = snntorch.Synaptic(
        alpha=torch.tensor(math.exp(-1 / 4.0), dtype=torch.float64), beta=torch.tensor(math.exp(-1 / 12.0), dtype=torch.float64),
        reset_delay=False).double()
    zeros = torch.zeros(8, 16, dtype=torch.float64)
    their_spikes, their_after = snntorch_run(synaptic, late, zeros, zeros)
    assert spikes.sum() > 50
    assert torch.equal(spikes, their_spikes)
    torch.testing.assert_close(voltages - spikes, their_after, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: LIF(tau_m=0.0), "tau_m"),
        (lambda: LIF(tau_m=-3.0), "tau_m"),
        (lambda: LIF(reset="soft"), "reset"),
        (lambda: LIF(v_th=0.0, v_rest=0.0), "v_th"),
        (lambda: LIF(v_reset=2.0), "v_reset"),
        (lambda: CUBA(tau_s=20.0), "tau_s"),
        (lambda: CUBA(tau_s=0.0), "tau_s"),
        (lambda: ALIF(tau_a=0.0), "tau_a"),
        (lambda: ALIF(beta=-1.0), "beta"),
        (lambda: LI(v_0=-1.0), "v_0"),
        (lambda: LIF(dt=0.0), "dt"),
    ],
)
def test_bad_values_name_the_field(make, field):
    with pytest.raises(ConfigError) as raised:
        make()
    assert raised.value.field == field


def test_learnable_time_constants_get_gradients_and_fixed_ones_are_plain_numbers():
    fixed, learned = CUBA(), CUBA(learn_tau=True, surrogate=FastSigmoid())
    assert [name for name, _ in fixed.named_parameters()] == [] and fixed.tau_m == 15.0
    assert sorted(name for name, _ in learned.named_parameters()) == ["tau_m", "tau_s"]
    current = torch.rand(2, 40, 3, generator=torch.Generator().manual_seed(6))
    _, voltages = simulate(learned, current)
    voltages.sum().backward()
    assert learned.tau_m.grad.abs() > 0 and learned.tau_s.grad.abs() > 0
