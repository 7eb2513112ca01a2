import torch

from lif.callbacks import StopAtPerfectAccuracy


def test_stops_exactly_at_perfect_accuracy():
    callback = StopAtPerfectAccuracy()
    one_error_in_a_million = torch.tensor(1.0 - 1e-6)
    assert callback._evaluate_stopping_criteria(one_error_in_a_million)[0] is False
    assert callback._evaluate_stopping_criteria(torch.tensor(1.0))[0] is True
