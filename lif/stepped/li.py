"""Leaky integrator: a non-spiking output neuron (the network's output layer, ``li``).

The subthreshold dynamics of :mod:`lif.stepped.cuba` without spike or reset. On the grid
t_k = k dt (ms), with u = V - v_rest and the exact decays d_m = exp(-dt/tau_m), d_s = exp(-dt/tau_s):

    i[k] = d_s i[k-1] + input[k]
    u[k] = d_m u[k-1] + c i[k-1],      c = v_0 (d_m - d_s)

so u is the input filtered by the double-exponential kernel K(t) = v_0 (exp(-t/tau_m) - exp(-t/tau_s))
(peak 1 with ``v_0: null``): a network's ``li`` output layer is a layer of tempotrons on the hidden
spikes, and its maximum over time is the tempotron's readout. Being linear, it need not be stepped
at all: networks filter its input currents with the configured kernel (any sum of exponentials),
by the compiled filter on the CPU (:func:`lif.stepped.layer.filter_layer`) or the exact blocked
scan of :mod:`lif.exact.scan`; this module is the plain time loop of the double-exponential case,
a reference those paths are tested against.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

from lif.stepped.cuba import CUBAState, Integration, TwoStateFilter, integrate
from lif.stepped.neuron import Neuron


def li_step(current: Tensor, state: CUBAState, integration: Integration, direct: Tensor | None = None):
    """(None: no spikes, membrane u[k], the next state)."""
    state = integrate(current, state, integration, direct)
    return None, state.u, state


class LI(TwoStateFilter, Neuron):
    """``tau_m`` and ``tau_s`` (ms, tau_s < tau_m): the kernel's time constants; ``v_0`` its peak factor (null: 1)."""

    def __init__(
        self, tau_m: float = 15.0, tau_s: float = 3.75, v_0: float | None = None, dt: float = 1.0, v_rest: float = 0.0,
        learn_tau: bool = False,
    ) -> None:
        super().__init__(dt=dt, v_rest=v_rest, learn_tau=learn_tau)
        self.add_filter_constants(tau_m, tau_s, v_0)

    def dynamics(self) -> NamedTuple:
        return self.integration()

    def step(self, current: Tensor, state: CUBAState, dynamics: Integration, direct: Tensor | None = None):
        return li_step(current, state, dynamics, direct)

    def extra_repr(self) -> str:
        return f"tau_m={float(self.tau_m):g} ms, tau_s={float(self.tau_s):g} ms, v_rest={self.v_rest:g}, dt={self.dt:g}"
