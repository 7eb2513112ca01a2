"""Losses on the maximum voltage of each output; each returns one value per pattern.

Hinge (the seed's BinaryLoss), with targets y = +1 for an output that should fire and -1
for one that should stay silent:

    loss_b = sum_o relu(margin - y_bo * (V_max_bo - v_th))

Its gradient through the maximum is the tempotron rule: on an error,
dloss/dW_io = -y * sum_j K(t_max - t_i^j). One output is a binary tempotron (label 1 fires);
several outputs are one-vs-rest (output o should fire for label o).
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


class HingeLoss(nn.Module):
    """relu(margin - y * (V_max - v_th)) summed over outputs, per pattern."""

    def __init__(self, v_th: float = 1.0, margin: float = 0.0) -> None:
        super().__init__()
        require(margin >= 0, "margin", "a margin >= 0", margin)
        self.v_th = float(v_th)
        self.margin = float(margin)

    def forward(self, v_max: Tensor, labels: Tensor) -> Tensor:
        y = targets(labels, v_max.shape[1]).to(v_max.dtype)
        return torch.relu(self.margin - y * (v_max - self.v_th)).sum(dim=1)
