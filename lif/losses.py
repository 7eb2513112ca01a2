"""Losses on a tempotron layer's readout; each returns one value per pattern [B].

The threshold v_th is the layer's own (``output.v_th``): the loss and the decision (fire
iff V_max >= v_th) cannot disagree.

Targets: y = +1 for an output that should fire, -1 for one that should stay silent. One
output is a binary tempotron (label 1 fires); several outputs are one-vs-rest (output o
should fire for label o). V_max is each output's maximum voltage over the window.

hinge (the seed's BinaryLoss):
    loss_b = sum_o relu(margin - y_bo (V_max_bo - v_th))
    Its gradient through the maximum is the tempotron rule: on an error,
    dloss/dW_io = -y sum_j K(t_max - t_i^j).
  + plasticity induction (the seed's PlasticityInduction), with plasticity_induction = eps > 0:
    when an output that should fire stayed below threshold (a silent target), every afferent
    that spiked is pushed up by eps per spike: the gradient gains -eps * n_bi (n_bi = spikes
    of afferent i in pattern b), so plain SGD adds lr * eps * n_bi to W_io. It changes the
    gradient only; the loss value stays the hinge value.

integrate (the seed's IntegrateLearningRule):
    on an error, follow the time-integrated voltage instead of the maximum:
    dloss/dW_io = -y (1/L) sum_k sum_j K(t_k - t_i^j) = -y d<V>_o/dW_io,
    where <V> is the voltage averaged over the grid. The value reported is the hinge value.

cross_entropy (several outputs):
    loss_b = -log softmax(V_max_b / temperature)[label_b]
    (plasticity induction can be added here too: the output of the true label is the target.)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lif.errors import require


def targets(labels: Tensor, num_outputs: int) -> Tensor:
    """+1/-1 targets [B, N_out]: binary when one output, one-vs-rest otherwise."""
    if num_outputs == 1:
        return (2 * labels - 1).unsqueeze(1)
    return 2 * torch.nn.functional.one_hot(labels, num_outputs) - 1


def gradient_only(value: Tensor) -> Tensor:
    """A term that is zero in value but has the gradient of ``value``."""
    return value - value.detach()


class TempotronLoss(nn.Module):
    """A per-pattern loss of a :class:`~lif.models.tempotron.TempotronOutput`, with optional plasticity
    induction (``plasticity_induction`` = eps per spike)."""

    def __init__(self, plasticity_induction: float = 0.0) -> None:
        super().__init__()
        require(plasticity_induction >= 0, "plasticity_induction", "a push >= 0 per spike (0 = off)", plasticity_induction)
        self.plasticity_induction = float(plasticity_induction)

    def check(self, num_outputs: int) -> None:
        """Raise a ConfigError if the loss cannot train ``num_outputs`` outputs."""

    def induction(self, output, y: Tensor) -> Tensor:
        """Plasticity induction: zero in value, gradient -eps * n_bi for silent targets, [B]."""
        if self.plasticity_induction == 0:
            return torch.zeros_like(output.v_max[:, 0])
        silent_targets = ((y > 0) & (output.v_max < output.v_th)).to(output.v_max.dtype)
        push = (silent_targets * output.input_drive).sum(dim=1)
        return -self.plasticity_induction * gradient_only(push)


class HingeLoss(TempotronLoss):
    """relu(margin - y (V_max - v_th)) summed over outputs, optionally with plasticity induction."""

    def __init__(self, margin: float = 0.0, plasticity_induction: float = 0.0) -> None:
        super().__init__(plasticity_induction)
        require(margin >= 0, "margin", "a margin >= 0", margin)
        self.margin = float(margin)

    def forward(self, output, labels: Tensor) -> Tensor:
        y = targets(labels, output.v_max.shape[1]).to(output.v_max.dtype)
        hinge = torch.relu(self.margin - y * (output.v_max - output.v_th))
        return hinge.sum(dim=1) + self.induction(output, y)


class IntegrateLoss(HingeLoss):
    """The integrate rule: on an error, the gradient of -y <V> (the time-averaged voltage)."""

    def forward(self, output, labels: Tensor) -> Tensor:
        y = targets(labels, output.v_max.shape[1]).to(output.v_max.dtype)
        hinge = torch.relu(self.margin - y * (output.v_max - output.v_th))
        errors = (hinge > 0).to(hinge.dtype)
        rule = (errors * -y * output.mean_voltage).sum(dim=1)
        return hinge.detach().sum(dim=1) + gradient_only(rule) + self.induction(output, y)


class CrossEntropyLoss(TempotronLoss):
    """Softmax cross-entropy over the outputs' maximum voltages divided by a temperature."""

    def __init__(self, temperature: float = 1.0, plasticity_induction: float = 0.0) -> None:
        super().__init__(plasticity_induction)
        require(temperature > 0, "temperature", "a temperature > 0", temperature)
        self.temperature = float(temperature)

    def check(self, num_outputs: int) -> None:
        require(num_outputs >= 2, "num_outputs", "at least 2 outputs (one per class) for loss=cross_entropy", num_outputs)

    def forward(self, output, labels: Tensor) -> Tensor:
        loss = torch.nn.functional.cross_entropy(output.v_max / self.temperature, labels, reduction="none")
        return loss + self.induction(output, targets(labels, output.v_max.shape[1]))
