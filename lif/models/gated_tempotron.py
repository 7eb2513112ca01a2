"""The gated tempotron: a tempotron gated linear network.

Each afferent i reaches each output o through M dendritic branches, each with its own weight
W[m, i, o] and gate g_m:

    V_o(t) = v_rest + 1/sqrt(M N) sum_m sum_i g_m W[m, i, o] x_i(t)        (mV)

with x_i(t) = sum_j K(t - t_i^j) afferent i's PSP trace (the project's kernel) and N the number
of afferents. The gates are fixed random units, drawn once from ``gate_seed`` and never trained
(buffers, not parameters):

linear, heaviside, sigmoid   gates of the raw sample X [F] (the features before encoding):
                             g_m(X) = theta(sum_f v_mf X_f), theta = identity, Heaviside (0/1) or the
                             logistic function; v_mf ~ N(0, 1/F).
none                         g_m = 1 (with M = 1 the plain tempotron, weights scaled by 1/sqrt(N))
threshold                    time-dependent gates: the gate unit's own voltage
                             theta_m(t) = sum_i v_mi x_i(t) (v_mi ~ N(0, 1/N)); each upward crossing of
                             ``gate_threshold`` at t_m opens the gate as g_m(t) = sum_{t_m} K(t - t_m).

``gate_softmax`` normalises the M gate values of a pattern (or of a time step) by a softmax.

Sample gates make the model a tempotron with per-pattern effective weights
W_eff[b] = 1/sqrt(M N) sum_m g_m(X_b) W[m] (one projection, B N M O multiply-adds), so the
maximum (or smooth maximum) runs on the exact path with its closed-form gradient
dV_max/dW[m, i, o] = g_m / sqrt(M N) sum_j K(t_max - t_i^j). Threshold gates multiply M exact
branch voltages U_mo(t) = sum_i W[m, i, o] x_i(t) by their gate traces: the voltage is a
trace [B, L, O], its maximum differentiated by autograd (the envelope theorem again).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor, nn

from lif import exact
from lif.env import num_steps
from lif.errors import require
from lif.exact.smooth_max import smooth_max, smooth_max_voltage
from lif.kernels import ExponentialSumKernel
from lif.models.tempotron import TempotronOutput, require_readout

SAMPLE_GATES = ("linear", "heaviside", "sigmoid", "none")
GATES = (*SAMPLE_GATES, "threshold")


def draw_gate_weights(fan_in: int, num_gates: int, seed: int) -> Tensor:
    """The fixed gate units' weights v [fan_in, num_gates] ~ N(0, 1/fan_in), a function of ``seed`` alone."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(fan_in, num_gates, generator=generator) / math.sqrt(fan_in)


def gate_activation(drive: Tensor, gate: str, softmax: bool, dim: int) -> Tensor:
    """theta of the gate units' drive (``gate``: none, heaviside, sigmoid or linear), then the
    optional softmax over the gates (``dim``). Threshold gates arrive here already as traces."""
    if gate == "none":
        gates = torch.ones_like(drive)
    elif gate == "heaviside":
        gates = (drive > 0).to(drive.dtype)
    elif gate == "sigmoid":
        gates = torch.sigmoid(drive)
    else:
        gates = drive
    return torch.softmax(gates, dim=dim) if softmax else gates


def gated_sum(gates: Tensor, weight: Tensor) -> Tensor:
    """sum_m g[b, m] W[m] [B, N, O] for gates [B, M] and branch weights W [M, N, O]: one matrix
    product, B M N O multiply-adds."""
    return (gates @ weight.reshape(weight.shape[0], -1)).view(len(gates), *weight.shape[1:])


class GatedTempotronOutput(TempotronOutput):
    """A tempotron's output (``readout``, ``v_th``, ``v_max``/``t_max`` on demand, ``rates``) whose
    maximum also needs the raw sample the gates see."""

    def __init__(self, layer: "GatedTempotron", inputs: Tensor, features: Tensor, readout: Tensor, v_max=None, t_max=None) -> None:
        super().__init__(layer, inputs, readout, v_max, t_max)
        self.features = features

    @functools.cached_property
    def _maximum(self) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return self.layer.maximum(self.inputs, self.features)

    @functools.cached_property
    def input_drive(self) -> Tensor:
        """sum_i n_bi W_eff[b, i, o] [B, O] (n_bi: afferent i's spikes in pattern b), what plasticity
        induction pushes up for a silent target; differentiable in the weights."""
        counts = exact.spike_counts(self.inputs, self.layer.dt, self.layer.num_steps)
        weights = self.layer.drive_weights(self.features)
        return torch.einsum("bi,bio->bo", counts.to(weights.dtype), weights)


class GatedTempotron(nn.Module):
    """``num_outputs`` gated tempotrons over ``num_afferents`` afferents through ``num_branches``
    gated branches (module docstring). ``forward(inputs, features)``: inputs are spike times
    [B, N(, S)] (ms) or a bool raster [B, L, N]; features [B, F] the raw sample the gates see.

    Weights W [M, N, O] start as N(init_mean, init_std^2) (``init=normal``) or all equal to
    1/sqrt(N) (``init=constant``).
    """

    inputs = "spikes_and_features"  # the data module hands it the raw sample next to the spikes

    def __init__(
        self,
        num_afferents: int,
        num_features: int,
        kernel: ExponentialSumKernel,
        num_outputs: int = 1,
        num_branches: int = 10,
        gate: str = "heaviside",
        gate_softmax: bool = False,
        gate_threshold: float = 1.0,
        gate_seed: int = 0,
        T: float = 500.0,
        dt: float = 1.0,
        v_th: float = 1.0,
        v_rest: float = 0.0,
        init: str = "normal",
        init_mean: float = 0.0,
        init_std: float = 1.0,
        readout: str = "max",
        smooth_max_beta: float = 10.0,
    ) -> None:
        super().__init__()
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require(num_features >= 1, "num_features", "an integer >= 1", num_features)
        require(num_outputs >= 1, "num_outputs", "an integer >= 1", num_outputs)
        require(num_branches >= 1, "num_branches", "an integer >= 1 (M, the gated branches per synapse)", num_branches)
        require(gate in GATES, "gate", " or ".join(GATES), gate)
        require(math.isfinite(gate_threshold), "gate_threshold", "a finite voltage (mV)", gate_threshold)
        require(init in ("normal", "constant"), "init", "normal or constant", init)
        require(init_std >= 0, "init_std", "a standard deviation >= 0", init_std)
        require_readout(readout, smooth_max_beta)
        self.kernel, self.dt, self.num_steps = kernel, float(dt), num_steps(T, dt)
        self.v_th, self.v_rest = float(v_th), float(v_rest)
        self.gate, self.gate_softmax, self.gate_threshold = gate, bool(gate_softmax), float(gate_threshold)
        self.readout, self.smooth_max_beta = readout, float(smooth_max_beta)
        shape = (num_branches, num_afferents, num_outputs)
        if init == "constant":
            weight = torch.full(shape, 1.0 / math.sqrt(num_afferents))
        else:
            weight = torch.randn(shape) * init_std + init_mean
        self.weight = nn.Parameter(weight)
        fan_in = num_afferents if gate == "threshold" else num_features
        self.register_buffer("gate_weight", draw_gate_weights(fan_in, num_branches, gate_seed))

    @property
    def num_afferents(self) -> int:
        return self.weight.shape[1]

    @property
    def num_outputs(self) -> int:
        return self.weight.shape[2]

    @property
    def num_branches(self) -> int:
        return self.weight.shape[0]

    @property
    def fan_out(self) -> dict[int, int]:
        """Weights one input spike reaches: its synapse on each branch of each output, W[:, i, :] (M O),
        and with threshold gates also the M gate units it drives. Counted as the model's equation
        reads them: folding sample gates into W_eff first would read O per spike, after M N O
        multiply-adds per pattern. The gate units' crossings gate branches through no weights."""
        return {0: self.num_branches * self.num_outputs + (self.num_branches if self.gate == "threshold" else 0)}

    @property
    def scale(self) -> float:
        return 1.0 / math.sqrt(self.num_branches * self.num_afferents)

    def activation(self, drive: Tensor, dim: int) -> Tensor:
        return gate_activation(drive, self.gate, self.gate_softmax, dim)

    def sample_gates(self, features: Tensor) -> Tensor:
        """g [B, M] of the raw samples [B, F]."""
        return self.activation(features.to(self.gate_weight.dtype) @ self.gate_weight, dim=1)

    def effective_weights(self, features: Tensor) -> Tensor:
        """W_eff [B, N, O] = 1/sqrt(M N) sum_m g_m(X_b) W[m]."""
        return gated_sum(self.sample_gates(features).to(self.weight.dtype), self.weight) * self.scale

    def drive_weights(self, features: Tensor) -> Tensor:
        """The afferents' weights [B, N, O] as the input drive counts them: W_eff, with threshold gates all open."""
        if self.gate != "threshold":
            return self.effective_weights(features)
        return gated_sum(torch.ones(len(features), self.num_branches, dtype=self.weight.dtype, device=self.weight.device), self.weight) * self.scale

    def gate_traces(self, inputs: Tensor) -> Tensor:
        """Threshold gates g [B, L, M]: the PSP trace of each gate unit's upward crossings of gate_threshold."""
        with torch.no_grad():
            drive = exact.voltage(inputs, self.gate_weight.to(self.weight.dtype), self.kernel, self.dt, self.num_steps)
            above = drive >= self.gate_threshold
            crossings = above & ~torch.nn.functional.pad(above, (0, 0, 1, 0))[:, :-1]  # [B, L, M], up at k
            identity = torch.eye(self.num_branches, dtype=self.weight.dtype, device=self.weight.device)
            traces = exact.voltage(crossings, identity, self.kernel, self.dt, self.num_steps)
        return self.activation(traces, dim=2) if self.gate_softmax else traces

    def voltage(self, inputs: Tensor, features: Tensor) -> Tensor:
        """The voltage trace [B, L, O] (for threshold gates, plots and tests)."""
        if self.gate != "threshold":
            return exact.voltage(inputs, self.effective_weights(features), self.kernel, self.dt, self.num_steps, self.v_rest)
        flat = self.weight.permute(1, 0, 2).reshape(self.num_afferents, -1)  # [N, M * O]
        branches = exact.voltage(inputs, flat, self.kernel, self.dt, self.num_steps)  # [B, L, M * O], above rest
        branches = branches.view(*branches.shape[:2], self.num_branches, self.num_outputs)
        return torch.einsum("blm,blmo->blo", self.gate_traces(inputs), branches) * self.scale + self.v_rest

    def maximum(self, inputs: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        """V_max [B, O] and t_max [B, O] (ms), differentiable in W."""
        if self.gate != "threshold":
            return exact.max_voltage(inputs, self.effective_weights(features), self.kernel, self.dt, self.num_steps, self.v_rest)
        v_max, max_step = self.voltage(inputs, features).max(dim=1)
        return v_max, max_step.to(v_max.dtype) * self.dt

    def forward(self, inputs: Tensor, features: Tensor) -> GatedTempotronOutput:
        if self.readout == "max":
            v_max, t_max = self.maximum(inputs, features)
            return GatedTempotronOutput(self, inputs, features, v_max, v_max, t_max)
        if self.gate != "threshold":
            weights = self.effective_weights(features)
            smooth = smooth_max_voltage(inputs, weights, self.kernel, self.dt, self.num_steps, self.smooth_max_beta, self.v_rest)
        else:
            smooth = smooth_max(self.voltage(inputs, features), self.smooth_max_beta, dim=1)
        return GatedTempotronOutput(self, inputs, features, smooth)

    def extra_repr(self) -> str:
        return (
            f"num_afferents={self.num_afferents}, num_outputs={self.num_outputs}, num_branches={self.num_branches}, "
            f"gate={self.gate}, gate_softmax={self.gate_softmax}, readout={self.readout}, dt={self.dt}, num_steps={self.num_steps}"
        )
