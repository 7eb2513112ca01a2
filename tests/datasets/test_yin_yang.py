"""The Yin-Yang generator: the region rule on hand-picked points, balance, the published data, splits."""

import numpy as np
import pytest
import torch

from lif.data import YinYangDataModule
from lif.datasets.yin_yang import yin_yang, yin_yang_class
from lif.encoders import LatencyEncoder
from lif.errors import ConfigError

# (x, y) -> class, by the rule with r_small = 0.1, r_big = 0.5 (centres of the dots: (0.25, 0.5), (0.75, 0.5))
HAND_PICKED = [
    ((0.25, 0.5), 2),  # centre of the left dot
    ((0.75, 0.5), 2),  # centre of the right dot
    ((0.75, 0.58), 2),  # inside the right dot (distance 0.08)
    ((0.25, 0.65), 1),  # left of centre, upper half: ring around the left dot (0.1 < d_left = 0.15 <= 0.25)
    ((0.25, 0.35), 1),  # the same ring below (d_left = 0.15)
    ((0.5, 0.9), 1),  # top: y > 0.5 and far from the right dot
    ((0.5, 0.1), 0),  # bottom: y < 0.5, outside both small rings
    ((0.75, 0.7), 0),  # ring around the right dot (d_right = 0.2 <= 0.25) in the upper half: not the y rule
    ((0.75, 0.3), 0),  # ring around the right dot, lower half
    ((0.5, 0.95), 1),  # top edge
    ((0.95, 0.55), 0),  # far right, upper half but d_right = 0.206 <= 0.25: the ring around the right dot
]


@pytest.mark.parametrize("point, label", HAND_PICKED)
def test_the_region_rule_on_hand_picked_points(point, label):
    assert int(yin_yang_class(np.array(point[0]), np.array(point[1]))) == label


def test_the_generator_reproduces_the_published_data_set():
    # First rows and class counts of publication_data/train_samples.npy and train_labels.npy of
    # github.com/lkriener/yin_yang_data_set (seed 42, 5000 samples).
    inputs, labels = yin_yang(5000, seed=42)
    np.testing.assert_allclose(inputs[0], [0.68030754, 0.45049925, 0.31969246, 0.54950075], atol=1e-8)
    np.testing.assert_allclose(inputs[1], [0.09767211, 0.68423303, 0.90232789, 0.31576697], atol=1e-8)
    assert labels[:10].tolist() == [2, 1, 2, 1, 1, 1, 0, 2, 2, 0]
    assert np.bincount(labels).tolist() == [1681, 1702, 1617]


def test_classes_are_balanced_points_lie_in_the_disc_and_inputs_mirror():
    inputs, labels = yin_yang(3000, seed=7)
    counts = np.bincount(labels, minlength=3)
    assert np.all(np.abs(counts - 1000) < 4 * np.sqrt(3000 * (1 / 3) * (2 / 3)))  # binomial(3000, 1/3) within 4 sd
    x, y = inputs[:, 0], inputs[:, 1]
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5)
    np.testing.assert_allclose(inputs[:, 2:], 1 - inputs[:, :2])
    assert np.all(yin_yang_class(x, y) == labels)


def make(**kwargs):
    module = YinYangDataModule(**{"encoder": LatencyEncoder(1.0, 30.0), "seed": 3, **kwargs})
    module.setup()
    return module


def test_splits_come_from_their_own_seeds_and_are_independent():
    module = make(train_size=300, val_size=100, test_size=100)
    sizes = {split: len(module.splits[split]) for split in ("train", "val", "test")}
    assert sizes == {"train": 300, "val": 100, "test": 100}
    features = {split: module.splits[split].tensors[0] for split in sizes}
    assert features["train"].shape == (300, 5)  # (x, y, 1-x, 1-y) and the bias
    rows = {split: {tuple(row.tolist()) for row in features[split]} for split in sizes}
    assert not rows["train"] & rows["val"] and not rows["train"] & rows["test"] and not rows["val"] & rows["test"]
    # a split depends on its own seed only: a bigger training set leaves val and test as they were
    bigger = make(train_size=400, val_size=100, test_size=100)
    assert torch.equal(bigger.splits["val"].tensors[0], features["val"])
    assert torch.equal(bigger.splits["train"].tensors[0][:300], features["train"])
    other = make(train_size=300, val_size=100, test_size=100, seed=4)
    assert not torch.equal(other.splits["train"].tensors[0], features["train"])


def test_published_seeds_and_the_latency_encoding():
    module = make(train_size=50, val_size=10, test_size=10, split_seeds=[42, 41, 40], bias=0.4)
    times, labels = module.splits["train"].tensors
    inputs, published_labels = yin_yang(50, seed=42)
    torch.testing.assert_close(times[:, :4], torch.as_tensor(inputs, dtype=times.dtype) * 30.0)
    assert times[:, 4].tolist() == pytest.approx([12.0] * 50)  # the bias: a spike at 0.4 * 30 ms
    assert labels.tolist() == published_labels.tolist()
    assert module.label_names == ["yin", "yang", "dot"]
    assert make(train_size=10, val_size=0, test_size=0, bias=None).num_afferents == 4


@pytest.mark.parametrize(
    "kwargs, field",
    [({"train_size": 0}, "train_size"), ({"val_size": -1}, "val_size"), ({"split_seeds": [1, 2]}, "split_seeds"),
     ({"bias": 2.0}, "bias"), ({"r_small": 0.3}, "r_small")],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        YinYangDataModule(encoder=LatencyEncoder(), **kwargs)
    assert raised.value.field == field
