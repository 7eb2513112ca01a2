"""The tempotron layer: a module over the exact core (:mod:`lif.exact`)."""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor, nn

from lif import exact
from lif.env import num_steps
from lif.errors import require
from lif.exact.smooth_max import smooth_max_voltage
from lif.kernels import ExponentialSumKernel
from lif.models.activity import SpikeActivity


READOUTS = ("max", "smooth_max")


def require_readout(readout: str, smooth_max_beta: float) -> None:
    """One line naming the field for a readout that is not max or smooth_max, or a beta that is not > 0."""
    require(readout in READOUTS, "readout", " or ".join(READOUTS), readout)
    require(math.isfinite(smooth_max_beta) and smooth_max_beta > 0, "smooth_max_beta", "a finite beta > 0 (1/mV)", smooth_max_beta)


class TempotronOutput(SpikeActivity):
    """What a tempotron layer read out of a batch.

    ``readout`` [B, N_out], the score losses and decisions use: V_max, or with
    ``readout=smooth_max`` the smooth maximum h (the hinge then pushes h - v_th, and the
    decision is h >= v_th). ``v_max`` and ``t_max`` [B, N_out] (ms) come with the max readout
    and are computed on demand (without gradient) for the smooth one. ``mean_voltage`` (the
    voltage averaged over the window) and ``input_drive`` (sum of the weights of the afferents
    that spiked, counted per spike) are computed when a loss asks for them, and both are
    differentiable in the weights. Its only spikes are the input's (layer 0): ``spike_counts``,
    ``rates`` and ``synaptic_events`` (:class:`lif.models.activity.SpikeActivity`) count them.
    """

    def __init__(self, layer: "Tempotron", inputs: Tensor, readout: Tensor, v_max: Tensor | None = None, t_max: Tensor | None = None) -> None:
        self.layer, self.inputs, self.readout = layer, inputs, readout
        if v_max is not None:
            self.v_max, self.t_max = v_max, t_max

    @property
    def v_th(self) -> float:
        """The layer's firing threshold."""
        return self.layer.v_th

    @functools.cached_property
    def v_max(self) -> Tensor:
        return self._maximum[0]

    @functools.cached_property
    def t_max(self) -> Tensor:
        return self._maximum[1]

    @functools.cached_property
    def _maximum(self) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return self.layer.maximum(self.inputs)

    @property
    def num_steps(self) -> int:
        return self.layer.num_steps

    @property
    def fan_out(self) -> dict[int, int] | None:
        return getattr(self.layer, "fan_out", None)

    def neuron_spike_counts(self) -> dict[int, Tensor]:
        """The spikes of each afferent [B, N_in] in the pattern (layer 0): the tempotron's only spikes."""
        return {0: exact.spike_counts(self.inputs, self.layer.dt, self.layer.num_steps)}

    @functools.cached_property
    def mean_voltage(self) -> Tensor:
        return self.layer.mean_voltage(self.inputs)

    @functools.cached_property
    def input_drive(self) -> Tensor:
        counts = exact.spike_counts(self.inputs, self.layer.dt, self.layer.num_steps)
        return counts.to(self.layer.weight.dtype) @ self.layer.weight


class Tempotron(nn.Module):
    """One layer of ``num_outputs`` tempotrons over ``num_afferents`` afferents.

    V_o(t_k) = v_rest + sum_i W[i, o] sum_j K(t_k - t_i^j) on the grid t_k = k*dt in [0, T)
    (ms); output o fires iff max_k V_o(t_k) >= v_th. No reset: the decision and the
    learning rule only look at the maximum. Weights start as N(init_mean, init_std^2).
    Inputs are spike times [B, N_in(, S)] in ms or a bool raster [B, L, N_in].

    ``readout``: ``max`` (V_max, the tempotron's) or ``smooth_max``, the soft maximum
    h = (1/beta) log((1/L) sum_k exp(beta V_o(t_k))) with ``smooth_max_beta`` = beta (1/mV)
    (:mod:`lif.exact.smooth_max`: exact, and no trace kept on the compiled path).
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
        readout: str = "max",
        smooth_max_beta: float = 10.0,
    ) -> None:
        super().__init__()
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require_readout(readout, smooth_max_beta)
        self.readout = readout
        self.smooth_max_beta = float(smooth_max_beta)
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

    @property
    def fan_out(self) -> dict[int, int]:
        """Weights one spike of each layer reaches: an input spike reaches one synapse per output."""
        return {0: self.num_outputs}

    def forward(self, inputs: Tensor) -> TempotronOutput:
        """The readout of each output (V_max and its time, or the smooth maximum), further readouts on demand."""
        if self.readout == "smooth_max":
            smooth = smooth_max_voltage(inputs, self.weight, self.kernel, self.dt, self.num_steps, self.smooth_max_beta, self.v_rest)
            return TempotronOutput(self, inputs, smooth)
        v_max, t_max = self.maximum(inputs)
        return TempotronOutput(self, inputs, v_max, v_max, t_max)

    def maximum(self, inputs: Tensor) -> tuple[Tensor, Tensor]:
        """V_max [B, N_out] and t_max [B, N_out] (ms), differentiable in the weights (the tempotron rule)."""
        return exact.max_voltage(inputs, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)

    def voltage(self, inputs: Tensor) -> Tensor:
        """The full voltage trace [B, L, N_out] (for plots; training needs only the maximum)."""
        return exact.voltage(inputs, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)

    def mean_voltage(self, inputs: Tensor) -> Tensor:
        """The voltage averaged over the window, [B, N_out] (closed form, linear in the weights)."""
        return exact.mean_voltage(inputs, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)

    def extra_repr(self) -> str:
        return (
            f"num_afferents={self.num_afferents}, num_outputs={self.num_outputs}, kernel={self.kernel}, "
            f"dt={self.dt}, num_steps={self.num_steps}, v_th={self.v_th}, v_rest={self.v_rest}, readout={self.readout}"
        )
