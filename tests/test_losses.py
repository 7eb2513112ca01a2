import pytest
import torch

from lif.losses import HingeLoss, targets


def test_targets_binary_and_one_vs_rest():
    assert targets(torch.tensor([0, 1, 1]), 1).tolist() == [[-1], [1], [1]]
    assert targets(torch.tensor([2, 0]), 3).tolist() == [[-1, -1, 1], [1, -1, -1]]


def test_hinge_penalises_only_errors_by_their_distance_to_threshold():
    loss = HingeLoss(v_th=1.0)
    v_max = torch.tensor([[1.5], [0.7], [1.2], [0.2]])
    labels = torch.tensor([1, 1, 0, 0])  # correct, missed by 0.3, false alarm by 0.2, correct
    assert loss(v_max, labels).tolist() == pytest.approx([0.0, 0.3, 0.2, 0.0])


def test_margin_and_one_vs_rest():
    loss = HingeLoss(v_th=1.0, margin=0.1)
    v_max = torch.tensor([[1.05, 0.5, 0.95]])  # label 0: output 0 too close, output 2 too close
    assert loss(v_max, torch.tensor([0])).item() == pytest.approx(0.05 + 0.0 + 0.05)
