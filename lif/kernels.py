"""Post-synaptic potential (PSP) kernels as sums of decaying exponentials.

A kernel is the voltage one input spike of unit weight adds, ``s`` ms after the spike:

    K(s) = sum_c coefficients[c] * exp(-s / time_constants[c])   for s >= 0,  0 for s < 0

Writing every kernel this way is what makes exact fast evaluation possible: each term
is a leaky trace ``A_k = exp(-dt/tau_c) * A_{k-1} + I_k`` on the time grid (see
:mod:`lif.exact.scan`). Times are in milliseconds; the kernels are dimensionless
(voltage per unit weight), normalised so that their peak is ``v_0``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lif.errors import require


class ExponentialSumKernel:
    """K(s) = sum_c coefficients[c] * exp(-s / time_constants[c]) for s >= 0 (ms)."""

    time_constants: tuple[float, ...]
    coefficients: tuple[float, ...]

    def __call__(self, s: Tensor) -> Tensor:
        """The kernel at delays ``s`` (ms, any shape); zero for negative delays."""
        causal = s >= 0
        s = torch.where(causal, s, torch.zeros_like(s))
        value = sum(c * torch.exp(-s / tau) for c, tau in zip(self.coefficients, self.time_constants))
        return torch.where(causal, value, torch.zeros_like(value))

    def decays(self, dt: float) -> tuple[float, ...]:
        """Per-step decay factor exp(-dt / tau_c) of each trace for a grid step ``dt`` (ms)."""
        return tuple(math.exp(-dt / tau) for tau in self.time_constants)

    def __repr__(self) -> str:
        terms = " + ".join(f"{c:.6g}*exp(-s/{tau:g})" for c, tau in zip(self.coefficients, self.time_constants))
        return f"{type(self).__name__}(K(s) = {terms})"


class DoubleExponentialKernel(ExponentialSumKernel):
    """The tempotron's kernel (the seed's DENKernel):

        K(s) = v_0 * (exp(-s/tau_m) - exp(-s/tau_s)),   s >= 0

    ``tau_m`` is the membrane (slow) and ``tau_s`` the synaptic (fast) time constant in
    ms, ``tau_s < tau_m``. The peak lies at s* = tau_m tau_s ln(tau_m/tau_s) / (tau_m - tau_s);
    ``v_0=None`` chooses v_0 so that K(s*) = 1 (2.11653 for tau_m = 15, tau_s = 3.75).
    tau_s == tau_m would be the alpha function s/tau exp(-s/tau), which is not a
    difference of exponentials; it is rejected.
    """

    def __init__(self, tau_m: float = 15.0, tau_s: float = 3.75, v_0: float | None = None) -> None:
        require(tau_m > 0, "tau_m", "a membrane time constant > 0 ms", tau_m)
        require(tau_s > 0, "tau_s", "a synaptic time constant > 0 ms", tau_s)
        require(
            tau_s < tau_m,
            "tau_s",
            f"a synaptic time constant smaller than tau_m={tau_m} ms "
            "(tau_s == tau_m is the alpha function, not supported; swap them if you meant the seed's names)",
            tau_s,
        )
        require(v_0 is None or v_0 > 0, "v_0", "null (normalise the peak to 1) or a factor > 0", v_0)
        self.tau_m = float(tau_m)
        self.tau_s = float(tau_s)
        self.peak_time = self.tau_m * self.tau_s * math.log(self.tau_m / self.tau_s) / (self.tau_m - self.tau_s)
        unnormalised_peak = math.exp(-self.peak_time / self.tau_m) - math.exp(-self.peak_time / self.tau_s)
        self.v_0 = 1.0 / unnormalised_peak if v_0 is None else float(v_0)
        self.time_constants = (self.tau_m, self.tau_s)
        self.coefficients = (self.v_0, -self.v_0)


class ExponentialKernel(ExponentialSumKernel):
    """A single leaky exponential (the seed's LeakyKernel):

        K(s) = v_0 * exp(-s/tau_m),   s >= 0

    The jump at s = 0 is the peak; ``v_0=None`` means v_0 = 1.
    """

    def __init__(self, tau_m: float = 15.0, v_0: float | None = None) -> None:
        require(tau_m > 0, "tau_m", "a membrane time constant > 0 ms", tau_m)
        require(v_0 is None or v_0 > 0, "v_0", "null (peak 1) or a factor > 0", v_0)
        self.tau_m = float(tau_m)
        self.peak_time = 0.0
        self.v_0 = 1.0 if v_0 is None else float(v_0)
        self.time_constants = (self.tau_m,)
        self.coefficients = (self.v_0,)
