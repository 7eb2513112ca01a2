"""Multi-layer tempotron networks: hidden layers pass voltage traces on, linearly, without spikes.

With z^0(t) = x(t) the afferents' PSP traces (x_i(t) = sum_j K(t - t_i^j), the project's
kernel), each layer l = 1..L maps the traces below it linearly through fixed random gates of the
raw sample X [F] (the features before encoding):

gating=weights      z^l(t) = 1/sqrt(M n_{l-1}) sum_m g_m^l(X) W_m^l^T z^{l-1}(t)
                    (M gated branches per connection, W^l [M, n_{l-1}, n_l], gates g^l [M]);
gating=activation   z^l_h(t) = g_h^l(X) / sqrt(n_{l-1}) sum_i W^l[i, h] z^{l-1}_i(t)
                    (one gate per hidden unit, the gate as the unit's activation; the output
                    layer is ungated, g = 1)

and the output voltage is V_o(t) = v_rest + z^L_o(t) (mV), read at each output's own peak
t_max^o (or by the smooth maximum). Gates g = theta(v X) are drawn from ``gate_seed`` and never
trained (:func:`lif.models.gated_tempotron.gate_activation`: linear, heaviside, sigmoid or none,
optionally a softmax over the gates of a layer).

Every layer is linear in time, so the network is a tempotron with per-pattern effective weights
W_eff[b] = A^1[b] A^2[b] ... A^L[b] [N, O], A^l[b] the layer's gated map: the maximum runs on the
exact path (:func:`lif.exact.max_voltage`), and its gradient is exact — the envelope theorem
gives dV_o(t_max^o)/dW_eff[i, o] = x_i(t_max^o), and autograd carries it through the product
(``learning_rule=exact``).

``learning_rule=tmax`` is the layer-wise "backpropagation at t_max" scheme: the output layer gets
each output's own tempotron rule (its input traces z^{L-1} sampled at t_max^o), but every hidden
layer is sampled once per pattern, at t* = the peak time of the output with the highest V_max, as
if all outputs peaked together: dL/dA^l = sum_o dL/dV_o d[z^{L-1}(t*) A^L_o]/dA^l. The forward
values are the exact ones; with one output (t* = t_max) the two rules agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lif import exact
from lif.env import num_steps
from lif.errors import require
from lif.exact.smooth_max import smooth_max_voltage
from lif.kernels import ExponentialSumKernel
from lif.models.gated_tempotron import SAMPLE_GATES, GatedTempotronOutput, draw_gate_weights, gate_activation, gated_sum
from lif.models.tempotron import require_readout

GATINGS = ("weights", "activation")
LEARNING_RULES = ("exact", "tmax")


class TempotronNetwork(nn.Module):
    """A tempotron network ``num_afferents`` -> ``hidden`` -> ``num_outputs`` (module docstring).
    ``forward(inputs, features)``: spike times [B, N(, S)] (ms) or a bool raster [B, L, N], and the
    raw sample [B, F] the gates see. Weights start as N(init_mean, init_std^2)."""

    inputs = "spikes_and_features"  # the data module hands it the raw sample next to the spikes

    def __init__(
        self,
        num_afferents: int,
        num_features: int,
        kernel: ExponentialSumKernel,
        num_outputs: int = 1,
        hidden: Sequence[int] = (100,),
        gating: str = "weights",
        num_branches: int = 10,
        gate: str = "heaviside",
        gate_softmax: bool = False,
        gate_seed: int = 0,
        learning_rule: str = "exact",
        T: float = 500.0,
        dt: float = 1.0,
        v_th: float = 1.0,
        v_rest: float = 0.0,
        init_mean: float = 0.0,
        init_std: float = 1.0,
        readout: str = "max",
        smooth_max_beta: float = 10.0,
    ) -> None:
        super().__init__()
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require(num_features >= 1, "num_features", "an integer >= 1", num_features)
        require(num_outputs >= 1, "num_outputs", "an integer >= 1", num_outputs)
        hidden = list(hidden)
        require(all(isinstance(size, int) and size >= 1 for size in hidden), "hidden", "a list of layer sizes >= 1, e.g. [100]", hidden)
        require(gating in GATINGS, "gating", " or ".join(GATINGS), gating)
        require(num_branches >= 1, "num_branches", "an integer >= 1 (M, the gated branches per connection)", num_branches)
        require(gate in SAMPLE_GATES, "gate", " or ".join(SAMPLE_GATES), gate)
        require(learning_rule in LEARNING_RULES, "learning_rule", " or ".join(LEARNING_RULES), learning_rule)
        require_readout(readout, smooth_max_beta)
        require(
            learning_rule == "exact" or readout == "max", "learning_rule",
            "exact with readout=smooth_max (tmax samples the layers at the outputs' peak times)", learning_rule,
        )
        require(init_std >= 0, "init_std", "a standard deviation >= 0", init_std)
        self.kernel, self.dt, self.num_steps = kernel, float(dt), num_steps(T, dt)
        self.v_th, self.v_rest = float(v_th), float(v_rest)
        self.gating, self.gate, self.gate_softmax = gating, gate, bool(gate_softmax)
        self.learning_rule, self.readout, self.smooth_max_beta = learning_rule, readout, float(smooth_max_beta)
        self.sizes = [num_afferents, *hidden, num_outputs]
        self.weights = nn.ParameterList()
        for layer, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            last = layer == len(self.sizes) - 2
            branches = num_branches if gating == "weights" else 1
            self.weights.append(nn.Parameter(torch.randn(branches, fan_in, fan_out) * init_std + init_mean))
            num_gates = branches if gating == "weights" else (0 if last else fan_out)
            if num_gates:  # each layer's gates from their own seed: adding a layer leaves the others as they were
                self.register_buffer(f"gate_weight_{layer}", draw_gate_weights(num_features, num_gates, gate_seed + 1000 * layer))

    @property
    def num_afferents(self) -> int:
        return self.sizes[0]

    @property
    def num_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def fan_out(self) -> dict[int, int]:
        """Weights one input spike reaches: its synapses on the first layer's branches (M n_1, or n_1
        with gating=activation). The hidden layers pass voltage traces, not spikes: their dense
        work (M n_{l-1} n_l per step) is no synaptic event."""
        return {0: self.weights[0].shape[0] * self.sizes[1]}

    def gates(self, layer: int, features: Tensor) -> Tensor | None:
        """g^l [B, gates] of the raw samples [B, F]; None for the ungated output layer (gating=activation)."""
        gate_weight = getattr(self, f"gate_weight_{layer}", None)
        if gate_weight is None:
            return None
        return gate_activation(features.to(gate_weight.dtype) @ gate_weight, self.gate, self.gate_softmax, dim=1)

    def layer_maps(self, features: Tensor) -> list[Tensor]:
        """A^l [B, n_{l-1}, n_l], the gated linear map of each layer for each pattern."""
        maps = []
        for layer, weight in enumerate(self.weights):
            gates = self.gates(layer, features)
            scale = 1.0 / math.sqrt(weight.shape[0] * weight.shape[1])
            if self.gating == "weights":
                maps.append(gated_sum(gates.to(weight.dtype), weight) * scale)
            elif gates is None:
                maps.append(weight[0].expand(len(features), -1, -1) * scale)
            else:
                maps.append(weight[0] * gates.to(weight.dtype)[:, None, :] * scale)
        return maps

    def effective_weights(self, features: Tensor) -> Tensor:
        """W_eff [B, N, O] = A^1 A^2 ... A^L, exact in every layer's weights."""
        product = None
        for layer_map in reversed(self.layer_maps(features)):
            product = layer_map if product is None else layer_map @ product
        return product

    def drive_weights(self, features: Tensor) -> Tensor:
        """The afferents' weights [B, N, O] as the input drive (plasticity induction) counts them: W_eff."""
        return self.effective_weights(features)

    def voltage(self, inputs: Tensor, features: Tensor) -> Tensor:
        """The output voltage trace [B, L, O] (for plots and tests)."""
        return exact.voltage(inputs, self.effective_weights(features), self.kernel, self.dt, self.num_steps, self.v_rest)

    def maximum(self, inputs: Tensor, features: Tensor) -> tuple[Tensor, Tensor]:
        """V_max [B, O] and t_max [B, O] (ms), differentiable in the weights by ``learning_rule``."""
        if self.learning_rule == "exact" or len(self.weights) == 1:
            return exact.max_voltage(inputs, self.effective_weights(features), self.kernel, self.dt, self.num_steps, self.v_rest)
        maps = self.layer_maps(features)
        below = maps[0]
        for layer_map in maps[1:-1]:
            below = below @ layer_map  # A^1 ... A^{L-1} [B, N, n_{L-1}]
        output_map = maps[-1]
        # the output layer's own rule: its input traces at each output's t_max (envelope theorem)
        v_max, t_max = exact.max_voltage(inputs, below.detach() @ output_map, self.kernel, self.dt, self.num_steps, self.v_rest)
        # the hidden layers': z^{L-1}(t*) at the winner's peak, a zero in value that carries their gradient
        with torch.no_grad():
            traces = exact.voltage(inputs, torch.eye(self.num_afferents, dtype=below.dtype, device=below.device), self.kernel, self.dt, self.num_steps)
            winner_step = (t_max.gather(1, v_max.argmax(dim=1, keepdim=True)) / self.dt).round().long()  # [B, 1]
            x_star = traces.gather(1, winner_step[:, :, None].expand(-1, 1, self.num_afferents))[:, 0]  # [B, N]
        hidden_at_peak = torch.einsum("bi,bih->bh", x_star, below)
        sampled = torch.einsum("bh,bho->bo", hidden_at_peak - hidden_at_peak.detach(), output_map.detach())
        return v_max + sampled, t_max

    def forward(self, inputs: Tensor, features: Tensor) -> GatedTempotronOutput:
        if self.readout == "max":
            v_max, t_max = self.maximum(inputs, features)
            return GatedTempotronOutput(self, inputs, features, v_max, v_max, t_max)
        weights = self.effective_weights(features)
        smooth = smooth_max_voltage(inputs, weights, self.kernel, self.dt, self.num_steps, self.smooth_max_beta, self.v_rest)
        return GatedTempotronOutput(self, inputs, features, smooth)

    def extra_repr(self) -> str:
        return (
            f"sizes={self.sizes}, gating={self.gating}, num_branches={self.weights[0].shape[0]}, gate={self.gate}, "
            f"gate_softmax={self.gate_softmax}, learning_rule={self.learning_rule}, readout={self.readout}, num_steps={self.num_steps}"
        )
