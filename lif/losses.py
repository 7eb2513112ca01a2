"""Losses on a model's readout; each returns one value per pattern [B].

A model's output carries ``readout`` [B, O], one score per output: the tempotron's maximum
voltage V_max, or a network's readout (:mod:`lif.models.readouts`: max, mean, last voltage,
spike count, minus the first-spike time). ``v_th`` is the output's own decision threshold
(fire iff score >= v_th): the loss and the decision cannot disagree. Below, V_max stands for
the readout.

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

Plasticity induction and the integrate rule need the tempotron's own readouts (the input drive,
the time-averaged voltage): :meth:`TempotronLoss.check_model` refuses them for other models
(plasticity induction also works for the gated tempotron and the tempotron network, whose input
drive counts the afferents' effective weights).

Firing-rate bounds (any loss, networks): with r_bln the rate (spikes per step) of neuron n of
spiking layer l in pattern b, and rate_penalty = lambda > 0,
    loss_b += lambda sum_l [ mean_n relu(rate_min - r_bln)^2 + relu(mean_n r_bln - rate_max)^2 ]
a lower bound per neuron (no silent neurons) and an upper bound on the layer's mean rate
(sparse activity), as in Zenke & Vogels 2021.
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
    """A per-pattern loss of a model's output (``readout``, ``v_th``), with optional plasticity
    induction (``plasticity_induction`` = eps per spike) and firing-rate bounds."""

    needs_tempotron = False  # the integrate rule does

    def __init__(
        self, plasticity_induction: float = 0.0, rate_penalty: float = 0.0, rate_min: float = 0.0, rate_max: float = 1.0
    ) -> None:
        super().__init__()
        require(plasticity_induction >= 0, "plasticity_induction", "a push >= 0 per spike (0 = off)", plasticity_induction)
        require(rate_penalty >= 0, "rate_penalty", "a strength >= 0 (0 = off)", rate_penalty)
        require(0 <= rate_min <= 1, "rate_min", "a rate in [0, 1] spikes per step", rate_min)
        require(rate_min <= rate_max <= 1, "rate_max", f"a rate in [rate_min={rate_min}, 1] spikes per step", rate_max)
        self.plasticity_induction = float(plasticity_induction)
        self.rate_penalty, self.rate_min, self.rate_max = float(rate_penalty), float(rate_min), float(rate_max)

    def check(self, num_outputs: int) -> None:
        """Raise a ConfigError if the loss cannot train ``num_outputs`` outputs."""

    def check_model(self, net: nn.Module) -> None:
        """Raise a ConfigError (naming the loss's field) if the loss cannot train ``net``."""
        tempotron = hasattr(net, "mean_voltage")
        if self.needs_tempotron:
            require(tempotron, "_target_", "model=tempotron (the integrate rule follows its time-averaged voltage)", type(self).__name__)
        require(
            tempotron or hasattr(net, "drive_weights") or self.plasticity_induction == 0,
            "plasticity_induction",
            "0 for this model (plasticity induction pushes a tempotron's afferents)",
            self.plasticity_induction,
        )
        require(
            self.rate_penalty == 0 or getattr(net, "num_spiking_layers", 0) > 0,
            "rate_penalty",
            "0 for a model without spiking layers (the bounds apply to a network's hidden or spiking output layers)",
            self.rate_penalty,
        )

    def induction(self, output, y: Tensor) -> Tensor:
        """Plasticity induction: zero in value, gradient -eps * n_bi for silent targets, [B]."""
        if self.plasticity_induction == 0:
            return torch.zeros_like(output.readout[:, 0])
        silent_targets = ((y > 0) & (output.readout < output.v_th)).to(output.readout.dtype)
        push = (silent_targets * output.input_drive).sum(dim=1)
        return -self.plasticity_induction * gradient_only(push)

    def rate_bounds(self, output) -> Tensor | float:
        """The firing-rate penalty of each pattern [B] (0 when off or without spiking layers)."""
        if self.rate_penalty == 0:
            return 0.0
        penalty = 0.0
        counts = output.spiking_layer_counts() if hasattr(output, "spiking_layer_counts") else {}
        for layer_counts in counts.values():
            rates = layer_counts / output.num_steps  # [B, N]: spikes per step of each neuron
            below = torch.relu(self.rate_min - rates).pow(2).mean(dim=1)
            above = torch.relu(rates.mean(dim=1) - self.rate_max).pow(2)
            penalty = penalty + below + above
        return self.rate_penalty * penalty


class HingeLoss(TempotronLoss):
    """relu(margin - y (V_max - v_th)) summed over outputs, optionally with plasticity induction."""

    def __init__(self, margin: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        require(margin >= 0, "margin", "a margin >= 0", margin)
        self.margin = float(margin)

    def forward(self, output, labels: Tensor) -> Tensor:
        y = targets(labels, output.readout.shape[1]).to(output.readout.dtype)
        hinge = torch.relu(self.margin - y * (output.readout - output.v_th))
        return hinge.sum(dim=1) + self.induction(output, y) + self.rate_bounds(output)


class IntegrateLoss(HingeLoss):
    """The integrate rule: on an error, the gradient of -y <V> (the time-averaged voltage)."""

    needs_tempotron = True

    def forward(self, output, labels: Tensor) -> Tensor:
        y = targets(labels, output.readout.shape[1]).to(output.readout.dtype)
        hinge = torch.relu(self.margin - y * (output.readout - output.v_th))
        errors = (hinge > 0).to(hinge.dtype)
        rule = (errors * -y * output.mean_voltage).sum(dim=1)
        return hinge.detach().sum(dim=1) + gradient_only(rule) + self.induction(output, y) + self.rate_bounds(output)


class CrossEntropyLoss(TempotronLoss):
    """Softmax cross-entropy over the outputs' readouts divided by a temperature:
    softmax_o(readout_o / temperature). The readout is the model's: a tempotron's V_max, or with
    ``model.readout=smooth_max`` its smooth maximum h_o = (1/beta) log((1/L) sum_k exp(beta V_o(t_k))),
    so beta (``model.smooth_max_beta``) softens the maximum over *time* inside each readout and
    the temperature softens the choice between *outputs*."""

    def __init__(self, temperature: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        require(temperature > 0, "temperature", "a temperature > 0", temperature)
        self.temperature = float(temperature)

    def check(self, num_outputs: int) -> None:
        require(num_outputs >= 2, "num_outputs", "at least 2 outputs (one per class) for loss=cross_entropy", num_outputs)

    def forward(self, output, labels: Tensor) -> Tensor:
        loss = torch.nn.functional.cross_entropy(output.readout / self.temperature, labels, reduction="none")
        return loss + self.induction(output, targets(labels, output.readout.shape[1])) + self.rate_bounds(output)
