"""The LightningModule's decisions."""

import torch

from lif.module import Classifier


class Output:
    def __init__(self, readout, v_th=1.0):
        self.readout, self.v_th = torch.tensor(readout), v_th


def test_the_highest_readout_wins_and_a_tie_for_it_is_an_error():
    readout = [[0.2, 0.9, 0.1], [0.0, 0.0, 0.0], [3.0, 3.0, 1.0], [1.0, 2.0, 2.0]]
    labels = torch.tensor([1, 0, 1, 2])
    predicted = Classifier.predict(Output(readout), labels)
    assert predicted[0] == 1  # clear winner
    assert (predicted[1:] != labels[1:]).all()  # silent outputs, and ties at the top: wrong, whatever the label


def test_one_output_decides_by_its_threshold():
    predicted = Classifier.predict(Output([[0.99], [1.0], [1.5]], v_th=1.0), torch.tensor([1, 1, 0]))
    assert predicted.tolist() == [0, 1, 1]
