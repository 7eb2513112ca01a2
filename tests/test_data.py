import pytest
import torch

from lif.data import RandomPatternsDataModule, stratified_split
from lif.encoders import LatencyEncoder
from lif.errors import ConfigError


def make(**kwargs):
    defaults = dict(num_afferents=20, num_samples=101, encoder=LatencyEncoder(1.0, 500.0), seed=4)
    module = RandomPatternsDataModule(**{**defaults, **kwargs})
    module.setup()
    return module


def all_patterns(module):
    return torch.cat([module.splits[split].tensors[0] for split in module.splits])


def test_splits_are_disjoint_and_cover_every_pattern():
    module = make(val_fraction=0.2, test_fraction=0.1)
    rows = [tuple(row.tolist()) for row in all_patterns(module)]
    assert len(rows) == len(set(rows)) == 101
    assert {split: len(module.splits[split]) for split in module.splits} == {"train": 71, "val": 20, "test": 10}


def test_stratified_split_keeps_label_proportions():
    labels = torch.tensor([0] * 60 + [1] * 40)
    parts = stratified_split(labels, 0.25, 0.1, seed=0)
    assert sorted(torch.cat(list(parts.values())).tolist()) == list(range(100))
    assert (labels[parts["val"]] == 1).sum().item() == 10 and (labels[parts["val"]] == 0).sum().item() == 15


def test_patterns_are_the_tempotron_ensemble():
    module = make(num_samples=400, num_afferents=50)
    times, labels = module.splits["train"].tensors
    assert times.shape == (400, 50)
    assert 0 <= times.min() and times.max() < 500  # one spike per afferent, uniform in [0, T)
    assert abs(times.mean().item() - 250) < 5  # uniform mean T/2 (std of the mean ~0.7 ms)
    assert labels.sum().item() == 200  # balanced labels


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = make(), make(), make(seed=5)
    assert torch.equal(all_patterns(first), all_patterns(again))
    assert not torch.equal(all_patterns(first), all_patterns(other))


def test_batches_cover_the_training_split_once_per_epoch():
    module = make(batch_size=16)
    seen = torch.cat([labels for _, labels in module.train_dataloader()])
    assert len(seen) == 101
    assert module.evaluation_splits == ["train"]
    assert module.test_dataloader() == []


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"val_fraction": 0.6, "test_fraction": 0.4}, "test_fraction"),
        ({"val_fraction": -0.1}, "val_fraction"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"num_samples": 1}, "num_samples"),
        ({"num_afferents": 0}, "num_afferents"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        make(**kwargs)
    assert raised.value.field == field
