"""ANN baselines on the raw features of the same data: the perceptron and the MLP.

They read the sample X [B, F] (the features before encoding, scaled into the encoder's range)
that the data module hands over next to the spikes, so that ``-m model=tempotron,mlp`` compares
models on the same splits. Their readout is the logits

    perceptron   z = X W + b                                       (softmax / logistic regression)
    mlp          h_0 = X, h_l = relu(h_{l-1} W_l + b_l), z = h_L W_out + b_out

with one output per class (cross-entropy), or one output read as "class 1 iff z >= 0" (hinge,
``v_th`` = 0). Layers are torch's ``nn.Linear`` with its default initialisation.

They have no spikes; their ``synaptic_events`` per pattern are their multiply-accumulates, the sum
over layers of fan-in x fan-out (every weight is used once per pattern; biases and ReLUs not
counted), the dense counterpart of a spiking model's spikes x fan-out.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from lif.errors import require


class ANNOutput:
    """``readout`` [B, O] = the logits; ``v_th`` = 0; no spikes (``rates`` and ``spike_counts`` are
    empty); ``synaptic_events`` [B]: the model's ``multiply_accumulates``, the same for every pattern."""

    v_th = 0.0

    def __init__(self, logits: Tensor, hidden: list[Tensor], multiply_accumulates: int = 0) -> None:
        self.readout, self.hidden, self.multiply_accumulates = logits, hidden, multiply_accumulates

    def rates(self) -> dict[int, Tensor]:
        return {}

    def spike_counts(self) -> dict[int, Tensor]:
        return {}

    def synaptic_events(self) -> Tensor:
        return torch.full((self.readout.shape[0],), float(self.multiply_accumulates), device=self.readout.device)


class MLP(nn.Module):
    """Fully connected ReLU layers ``hidden`` (sizes) then a linear output; ``hidden=[]`` is the perceptron."""

    inputs = "features"  # the data module hands it the raw sample, not the spikes

    def __init__(self, num_features: int, num_outputs: int = 1, hidden: Sequence[int] = (), dropout: float = 0.0) -> None:
        super().__init__()
        require(num_features >= 1, "num_features", "an integer >= 1", num_features)
        require(num_outputs >= 1, "num_outputs", "an integer >= 1", num_outputs)
        hidden = list(hidden or [])
        for index, size in enumerate(hidden):
            require(isinstance(size, int) and size >= 1, f"hidden[{index}]", "a layer size, an integer >= 1", size)
        require(0 <= dropout < 1, "dropout", "a probability in [0, 1)", dropout)
        widths = [num_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(widths, widths[1:]))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(widths[-1], num_outputs)

    @property
    def num_outputs(self) -> int:
        return self.output.out_features

    @property
    def multiply_accumulates(self) -> int:
        """Multiply-accumulates per pattern: the weights of every layer, each used once."""
        return sum(layer.in_features * layer.out_features for layer in [*self.hidden, self.output])

    def forward(self, features: Tensor) -> ANNOutput:
        activity, hidden = features.to(self.output.weight.dtype), []
        for layer in self.hidden:
            activity = torch.relu(layer(activity))
            hidden.append(activity)
            activity = self.dropout(activity)
        return ANNOutput(self.output(activity), hidden, self.multiply_accumulates)


class Perceptron(MLP):
    """Softmax (or, with one output, logistic) regression on the raw features: z = X W + b."""

    def __init__(self, num_features: int, num_outputs: int = 1) -> None:
        super().__init__(num_features, num_outputs, hidden=())
