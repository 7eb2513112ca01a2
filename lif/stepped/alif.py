"""Adaptive LIF neuron: a LIF membrane with a threshold that rises with each spike (``neuron=alif``).

Bellec et al. 2018 (long short-term memory spiking networks, LSNN). On the grid t_k = k dt (ms),
with the membrane u = V - v_rest, the adaptation a (spikes, decaying) and the exact decays
d_m = exp(-dt / tau_m), d_a = exp(-dt / tau_a):

    a[k] = d_a a[k-1] + s[k-1]
    theta[k] = (v_th - v_rest) + beta a[k]            beta: threshold increase per spike (voltage units)
    u[k] = d_m u[k-1] + input[k]
    s[k] = H(u[k] - theta[k]),  then the reset of u by v_th - v_rest (subtract) or to v_reset (zero)

The gradient flows through the spike into the threshold as well (d s / d theta = -g(u - theta)),
so a spike now makes later spikes less likely also in the backward pass. With beta = 0 this is
the ``lif`` neuron.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from lif.errors import require
from lif.stepped.lif import LIF, LIFDynamics
from lif.stepped.neuron import spike_and_reset


class ALIFState(NamedTuple):
    u: Tensor  # membrane from rest, after the reset
    a: Tensor  # adaptation: recent spikes, decaying
    s: Tensor  # the spikes of the step before


class ALIFDynamics(NamedTuple):
    membrane: LIFDynamics
    decay_a: Tensor  # exp(-dt / tau_a)
    beta: float


def alif_step(current: Tensor, state: ALIFState, dynamics: ALIFDynamics) -> tuple[Tensor, Tensor, ALIFState]:
    """(spikes s[k], membrane u[k] before the reset, the state after it)."""
    membrane = dynamics.membrane
    a = dynamics.decay_a * state.a + state.s
    threshold = membrane.firing.threshold + dynamics.beta * a
    u = membrane.decay_m * state.u + current
    spikes, after = spike_and_reset(u, threshold, membrane.firing, membrane.surrogate)
    return spikes, u, ALIFState(after, a, spikes)


class ALIF(LIF):
    """``tau_m`` membrane and ``tau_a`` adaptation time constants (ms), ``beta`` the threshold
    increase per spike; see :class:`~lif.stepped.neuron.SpikingNeuron` for the rest."""

    def __init__(self, tau_m: float = 15.0, tau_a: float = 200.0, beta: float = 0.2, **kwargs) -> None:
        super().__init__(tau_m=tau_m, **kwargs)
        self.add_time_constant("tau_a", tau_a, "an adaptation time constant")
        require(isinstance(beta, (int, float)) and beta >= 0, "beta", "a threshold increase per spike >= 0", beta)
        self.beta = float(beta)

    def initial_state(self, like: Tensor) -> ALIFState:
        zeros = like.new_zeros(like.shape)
        return ALIFState(zeros, zeros, zeros)

    def dynamics(self) -> ALIFDynamics:
        return ALIFDynamics(super().dynamics(), self.decay_of(self.tau_a), self.beta)

    def step(self, current: Tensor, state: ALIFState, dynamics: ALIFDynamics, direct: Tensor | None = None):
        return alif_step(current, state, dynamics)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, beta={self.beta:g}"
