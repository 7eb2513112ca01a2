"""Leaky integrate-and-fire neuron with a single exponential membrane (``neuron=lif``).

On the grid t_k = k dt (ms), with the membrane u = V - v_rest (dimensionless) and the exact
one-step decay d_m = exp(-dt / tau_m) (not Euler's 1 - dt/tau_m):

    u[k] = d_m u[k-1] + input[k]
    s[k] = H(u[k] - (v_th - v_rest)),  then the reset (:mod:`lif.stepped.neuron`)

``input[k]`` is the summed weight of the spikes arriving at step k. Alone, a unit input at
step 0 gives u[n] = d_m^n = K(n dt) for K(t) = exp(-t / tau_m), the ``exponential`` kernel
with v_0 = 1: below threshold this neuron is the exact path (:mod:`lif.exact`).
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from lif.kernels import ExponentialKernel, ExponentialSumKernel
from lif.stepped.neuron import Firing, SpikingNeuron, spike_and_reset
from lif.stepped.surrogates import Surrogate


class LIFState(NamedTuple):
    u: Tensor  # membrane from rest, after the reset


class LIFDynamics(NamedTuple):
    decay_m: Tensor  # exp(-dt / tau_m)
    firing: Firing
    surrogate: Surrogate


def lif_step(current: Tensor, state: LIFState, dynamics: LIFDynamics) -> tuple[Tensor, Tensor, LIFState]:
    """(spikes s[k], membrane u[k] before the reset, the state after it)."""
    u = dynamics.decay_m * state.u + current
    spikes, after = spike_and_reset(u, dynamics.firing.threshold, dynamics.firing, dynamics.surrogate)
    return spikes, u, LIFState(after)


class LIF(SpikingNeuron):
    """``tau_m`` (ms) membrane time constant; see :class:`~lif.stepped.neuron.SpikingNeuron` for the rest."""

    def __init__(self, tau_m: float = 15.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_time_constant("tau_m", tau_m, "a membrane time constant")

    def kernel(self) -> ExponentialSumKernel:
        return ExponentialKernel(self.time_constant("tau_m"), v_0=1.0)

    def initial_state(self, like: Tensor) -> LIFState:
        return LIFState(like.new_zeros(like.shape))

    def dynamics(self) -> LIFDynamics:
        return LIFDynamics(self.decay_of(self.tau_m), self.firing, self.surrogate)

    def step(self, current: Tensor, state: LIFState, dynamics: LIFDynamics, direct: Tensor | None = None):
        return lif_step(current, state, dynamics)
