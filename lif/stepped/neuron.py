"""What every stepped neuron model shares: time constants, threshold, reset, and the spike.

Voltages are dimensionless; inside the step functions they are measured from rest
(u = V - v_rest), so that every model's equations read u[k] = d u[k-1] + ... with no offset.
Times are in ms; a time constant tau enters only as its exact one-step decay d = exp(-dt / tau).
With ``learn_tau`` the time constants of a layer are parameters trained with the weights (kept
above dt/100; the phases of input spikes between grid points use their current value without
a gradient); otherwise they are plain numbers and their decays are computed in double precision.

After the membrane update of step k a spiking neuron fires and resets:

    s[k] = H(u[k] - theta[k])                    theta = v_th - v_rest (ALIF: plus its adaptation)
    reset "subtract":  u[k] <- u[k] - (v_th - v_rest) s[k]
    reset "zero":      u[k] <- u[k] + (v_reset - v_rest - u[k]) s[k]     (V = v_reset after a spike)
    reset "none":      u[k] unchanged

H's derivative in the backward pass is the surrogate's (:mod:`lif.stepped.surrogates`). The
reset uses s[k] detached from the gradient by default (``detach_reset``): the gradient then
flows through the spike to the next layer but not back through the reset into the membrane.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from lif.errors import require
from lif.kernels import ExponentialSumKernel
from lif.stepped.surrogates import FastSigmoid, Surrogate

RESETS = ("subtract", "zero", "none")


class Firing(NamedTuple):
    """Threshold and reset of a spiking neuron, measured from rest."""

    threshold: float  # v_th - v_rest
    reset_level: float  # v_reset - v_rest
    reset: str  # subtract | zero | none
    detach_reset: bool


def spike_and_reset(u: Tensor, threshold: Tensor | float, firing: Firing, surrogate: Surrogate) -> tuple[Tensor, Tensor]:
    """(spikes s = H(u - threshold), the membrane after the reset) for membranes u measured from rest."""
    spikes = surrogate(u - threshold)
    fired = spikes.detach() if firing.detach_reset else spikes
    if firing.reset == "subtract" and math.isfinite(firing.threshold):  # an infinite threshold never fires
        u = u - firing.threshold * fired
    elif firing.reset == "zero":
        u = u + (firing.reset_level - u) * fired
    return spikes, u


class Neuron(nn.Module):
    """A neuron model of one layer: time constants (per layer, optionally learnable), grid step,
    resting level. Subclasses give the state, the step function and the subthreshold kernel."""

    spiking = False

    def __init__(self, dt: float = 1.0, v_rest: float = 0.0, learn_tau: bool = False) -> None:
        super().__init__()
        require(dt > 0, "dt", "a time step > 0 ms", dt)
        self.dt = float(dt)
        self.v_rest = float(v_rest)
        self.learn_tau = bool(learn_tau)

    def add_time_constant(self, name: str, value: float, meaning: str) -> None:
        """Set time constant ``name`` (ms): a parameter if learnable, else a plain float, so that
        its decay is computed once in double precision (a float32 buffer would round tau first)."""
        require(isinstance(value, (int, float)) and value > 0, name, f"{meaning} > 0 ms", value)
        self.time_constant_names = (*getattr(self, "time_constant_names", ()), name)
        if self.learn_tau:
            self.register_parameter(name, nn.Parameter(torch.tensor(float(value))))
        else:
            setattr(self, name, float(value))

    def decay_of(self, tau: Tensor | float) -> Tensor | float:
        """The exact decay over one step, exp(-dt / tau) (differentiable in a learnable tau)."""
        if isinstance(tau, Tensor):
            # a learned tau must stay positive: below a hundredth of a step it decays to nothing anyway
            return torch.exp(-self.dt / tau.clamp(min=0.01 * self.dt))
        return math.exp(-self.dt / tau)

    def time_constant(self, name: str) -> float:
        """Time constant ``name`` (ms) as a number, a learned one kept where :meth:`decay_of` keeps it."""
        return max(float(getattr(self, name)), 0.01 * self.dt)

    def kernel(self) -> ExponentialSumKernel:
        """The voltage (from rest) a unit input at t = 0 adds at t >= 0 without spiking, sum_c coef_c exp(-t/tau_c):
        the exact path this neuron equals below threshold, and the terms input spike times are gridded with."""
        raise NotImplementedError

    def drive(self, terms: Tensor) -> tuple[Tensor, Tensor | None]:
        """Input currents per kernel term [..., C] (gridded spikes with their phases, :mod:`lif.exact`)
        -> (the current entering the first state [...], a direct voltage jump [...] or None).

        For spikes on the grid all terms are equal and the jump is zero; spikes between grid
        points need it to stay exact.
        """
        return terms[..., 0], None

    def initial_state(self, like: Tensor) -> NamedTuple:
        """The resting state for a batch shaped like ``like`` [B, N]."""
        raise NotImplementedError

    def dynamics(self) -> NamedTuple:
        """The per-step constants (decays, threshold...) of the step function, computed once per forward."""
        raise NotImplementedError

    def step(self, current: Tensor, state: NamedTuple, dynamics: NamedTuple, direct: Tensor | None = None):
        """One step: (spikes or None, voltage from rest before the reset, next state)."""
        raise NotImplementedError


class SpikingNeuron(Neuron):
    """A neuron with a threshold, a reset and a surrogate derivative of its spike."""

    spiking = True

    def __init__(
        self,
        v_th: float = 1.0,
        v_reset: float = 0.0,
        v_rest: float = 0.0,
        reset: str = "subtract",
        detach_reset: bool = True,
        surrogate: Surrogate | None = None,
        dt: float = 1.0,
        learn_tau: bool = False,
    ) -> None:
        super().__init__(dt=dt, v_rest=v_rest, learn_tau=learn_tau)
        require(reset in RESETS, "reset", " | ".join(RESETS), reset)
        require(v_th > v_rest, "v_th", f"a threshold above v_rest={v_rest}", v_th)
        require(v_reset < v_th, "v_reset", f"a reset level below v_th={v_th}", v_reset)
        self.v_th = float(v_th)
        self.v_reset = float(v_reset)
        self.firing = Firing(self.v_th - self.v_rest, self.v_reset - self.v_rest, reset, bool(detach_reset))
        self.surrogate = surrogate if surrogate is not None else FastSigmoid()

    def extra_repr(self) -> str:
        taus = ", ".join(f"{name}={float(getattr(self, name)):g} ms" for name in self.time_constant_names)
        firing = self.firing
        return (
            f"{taus}, v_th={self.v_th:g}, v_reset={self.v_reset:g}, v_rest={self.v_rest:g}, reset={firing.reset}, "
            f"detach_reset={firing.detach_reset}, surrogate={self.surrogate}, dt={self.dt:g}, learn_tau={self.learn_tau}"
        )
