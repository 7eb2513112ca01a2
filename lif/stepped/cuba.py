"""Current-based LIF neuron: a synaptic current and a membrane, two states (``neuron=cuba``).

On the grid t_k = k dt (ms), with the membrane u = V - v_rest (dimensionless), the synaptic
current i, and the exact one-step decays d_m = exp(-dt / tau_m), d_s = exp(-dt / tau_s):

    i[k] = d_s i[k-1] + input[k]
    u[k] = d_m u[k-1] + c i[k-1]          c = v_0 (d_m - d_s)
    s[k] = H(u[k] - (v_th - v_rest)),  then the reset of u (:mod:`lif.stepped.neuron`); i is not reset

A unit input at step 0 alone gives i[n] = d_s^n and

    u[n] = c sum_{j<n} d_m^(n-1-j) d_s^j = v_0 (d_m^n - d_s^n) = K(n dt),

the project's double-exponential kernel K(t) = v_0 (exp(-t/tau_m) - exp(-t/tau_s))
(peak 1 with ``v_0: null``): below threshold this neuron *is* the exact tempotron path
(:mod:`lif.exact`). The membrane sees the current of the step before, i[k-1]: with i[k] it
would respond one step early (u[0] = c for a spike at step 0, while K(0) = 0).

A spike between grid points, at t = k dt - delta, enters at step k with the phase factors
p_m = exp(-delta/tau_m), p_s = exp(-delta/tau_s): the current gains w p_s and the membrane
jumps by w v_0 (p_m - p_s) (zero for spikes on the grid), which keeps it exact.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from lif.errors import require
from lif.kernels import DoubleExponentialKernel, ExponentialSumKernel
from lif.stepped.neuron import Firing, SpikingNeuron, spike_and_reset
from lif.stepped.surrogates import Surrogate


class CUBAState(NamedTuple):
    i: Tensor  # synaptic current
    u: Tensor  # membrane from rest, after the reset


class Integration(NamedTuple):
    """The two-state filter: decays and the coupling c = v_0 (d_m - d_s)."""

    decay_m: Tensor
    decay_s: Tensor
    coupling: Tensor


class CUBADynamics(NamedTuple):
    integration: Integration
    firing: Firing
    surrogate: Surrogate


def peak_normalisation(tau_m: Tensor, tau_s: Tensor) -> Tensor:
    """v_0 = 1 / (exp(-t*/tau_m) - exp(-t*/tau_s)) at the peak t* = tau_m tau_s ln(tau_m/tau_s) / (tau_m - tau_s),
    differentiable in learnable time constants (:class:`~lif.kernels.DoubleExponentialKernel` for fixed ones)."""
    peak = tau_m * tau_s * torch.log(tau_m / tau_s) / (tau_m - tau_s)
    return 1.0 / (torch.exp(-peak / tau_m) - torch.exp(-peak / tau_s))


def integrate(current: Tensor, state: CUBAState, integration: Integration, direct: Tensor | None = None) -> CUBAState:
    """One step of the two-state filter (no spike, no reset): the new (i[k], u[k])."""
    u = integration.decay_m * state.u + integration.coupling * state.i
    if direct is not None:
        u = u + direct
    return CUBAState(integration.decay_s * state.i + current, u)


def cuba_step(
    current: Tensor, state: CUBAState, dynamics: CUBADynamics, direct: Tensor | None = None
) -> tuple[Tensor, Tensor, CUBAState]:
    """(spikes s[k], membrane u[k] before the reset, the state after it)."""
    integrated = integrate(current, state, dynamics.integration, direct)
    spikes, after = spike_and_reset(integrated.u, dynamics.firing.threshold, dynamics.firing, dynamics.surrogate)
    return spikes, integrated.u, CUBAState(integrated.i, after)


class TwoStateFilter:
    """The time constants and input handling of the two-state filter (CUBA's, and the LI output's)."""

    def add_filter_constants(self, tau_m: float, tau_s: float, v_0: float | None) -> None:
        self.add_time_constant("tau_m", tau_m, "a membrane time constant")
        self.add_time_constant("tau_s", tau_s, "a synaptic time constant")
        require(
            tau_s < tau_m,
            "tau_s",
            f"a synaptic time constant smaller than tau_m={tau_m} ms (tau_s == tau_m is the alpha function, not supported)",
            tau_s,
        )
        require(v_0 is None or (isinstance(v_0, (int, float)) and v_0 > 0), "v_0", "null (peak 1) or a factor > 0", v_0)
        self.fixed_v_0 = None if v_0 is None else float(v_0)

    def v_0(self) -> Tensor | float:
        if self.fixed_v_0 is not None:
            return self.fixed_v_0
        if self.learn_tau:
            return peak_normalisation(self.tau_m, self.tau_s)
        return DoubleExponentialKernel(self.tau_m, self.tau_s).v_0

    def integration(self) -> Integration:
        decay_m, decay_s = self.decay_of(self.tau_m), self.decay_of(self.tau_s)
        return Integration(decay_m, decay_s, self.v_0() * (decay_m - decay_s))

    def kernel(self) -> ExponentialSumKernel:
        return DoubleExponentialKernel(self.time_constant("tau_m"), self.time_constant("tau_s"), float(self.v_0()))

    def drive(self, terms: Tensor) -> tuple[Tensor, Tensor | None]:
        # terms[..., 0] carries the phases of tau_m, terms[..., 1] those of tau_s (the kernel's order)
        jump = self.v_0() * (terms[..., 0] - terms[..., 1])
        return terms[..., 1], jump

    def initial_state(self, like: Tensor) -> CUBAState:
        return CUBAState(like.new_zeros(like.shape), like.new_zeros(like.shape))


class CUBA(TwoStateFilter, SpikingNeuron):
    """``tau_m`` membrane and ``tau_s`` synaptic time constants (ms, tau_s < tau_m); ``v_0``: the
    kernel's peak factor (null: peak 1). See :class:`~lif.stepped.neuron.SpikingNeuron` for the rest."""

    def __init__(self, tau_m: float = 15.0, tau_s: float = 3.75, v_0: float | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.add_filter_constants(tau_m, tau_s, v_0)

    def dynamics(self) -> CUBADynamics:
        return CUBADynamics(self.integration(), self.firing, self.surrogate)

    def step(self, current: Tensor, state: CUBAState, dynamics: CUBADynamics, direct: Tensor | None = None):
        return cuba_step(current, state, dynamics, direct)

