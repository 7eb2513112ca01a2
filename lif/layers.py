"""Torch modules over the functional core (:mod:`lif.functional`)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lif import functional
from lif.env import num_steps
from lif.errors import require
from lif.kernels import ExponentialSumKernel


class Tempotron(nn.Module):
    """One layer of ``num_outputs`` tempotrons over ``num_afferents`` afferents.

    V_o(t_k) = v_rest + sum_i W[i, o] sum_j K(t_k - t_i^j) on the grid t_k = k*dt in [0, T)
    (ms); output o fires iff max_k V_o(t_k) >= v_th. No reset: the decision and the
    learning rule only look at the maximum. Weights start as N(init_mean, init_std^2).
    """

    def __init__(
        self,
        num_afferents: int,
        kernel: ExponentialSumKernel,
        num_outputs: int = 1,
        T: float = 500.0,
        dt: float = 1.0,
        v_th: float = 1.0,
        v_rest: float = 0.0,
        init_mean: float = 0.0,
        init_std: float = 0.01,
    ) -> None:
        super().__init__()
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require(num_outputs >= 1, "num_outputs", "an integer >= 1", num_outputs)
        require(init_std >= 0, "init_std", "a standard deviation >= 0", init_std)
        self.kernel = kernel
        self.dt = float(dt)
        self.num_steps = num_steps(T, dt)
        self.v_th = float(v_th)
        self.v_rest = float(v_rest)
        self.weight = nn.Parameter(torch.randn(num_afferents, num_outputs) * init_std + init_mean)

    @property
    def num_afferents(self) -> int:
        return self.weight.shape[0]

    @property
    def num_outputs(self) -> int:
        return self.weight.shape[1]

    def forward(self, spike_times: Tensor) -> tuple[Tensor, Tensor]:
        """(V_max [B, N_out], t_max [B, N_out] in ms) for spike times [B, N_in(, S)] in ms."""
        return functional.max_voltage(spike_times, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)

    def voltage(self, spike_times: Tensor) -> Tensor:
        """The full voltage trace [B, L, N_out] (for plots; training needs only the maximum)."""
        return functional.voltage(spike_times, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)

    def extra_repr(self) -> str:
        return (
            f"num_afferents={self.num_afferents}, num_outputs={self.num_outputs}, kernel={self.kernel}, "
            f"dt={self.dt}, num_steps={self.num_steps}, v_th={self.v_th}, v_rest={self.v_rest}"
        )
