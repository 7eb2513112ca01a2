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


def test_digits_are_scaled_split_by_class_and_named():
    from lif.data import DigitsDataModule

    module = DigitsDataModule(encoder=LatencyEncoder(max_value=2.0, duration=100.0), val_fraction=0.2, test_fraction=0.2, seed=0)
    module.setup()
    sizes = {split: len(module.splits[split]) for split in module.splits}
    assert sum(sizes.values()) == 1797 and module.num_classes == 10 and module.num_afferents == 64
    for split in ("val", "test"):
        counts = torch.bincount(module.splits[split].tensors[1], minlength=10)
        assert counts.min() >= 33 and counts.max() <= 38  # about 20 % of each class (~180 per class)
    times = torch.cat([module.splits[split].tensors[0] for split in module.splits])
    assert times.min() == 0.0 and times.max() == 100.0  # pixels 0..16 -> values 0..2 -> 0..100 ms


def test_digit_shifts_add_four_shifted_copies_of_the_training_images_only():
    from sklearn.datasets import load_digits

    from lif.data import DigitsDataModule
    from lif.encoders import RateEncoder

    encoder = RateEncoder(max_rate=200.0, max_value=16.0, duration=50.0, seed=3)  # seeded, random: the hardest case
    plain = DigitsDataModule(encoder=encoder, val_fraction=0.15, test_fraction=0.2, seed=2)
    shifted = DigitsDataModule(augment_shifts=True, encoder=encoder, val_fraction=0.15, test_fraction=0.2, seed=2)
    plain.setup(), shifted.setup()
    for split in ("val", "test"):
        assert all(torch.equal(a, b) for a, b in zip(plain.splits[split].tensors, shifted.splits[split].tensors))
    inputs, labels = shifted.splits["train"].tensors
    count = len(plain.splits["train"])
    assert len(labels) == 5 * count and torch.equal(labels, plain.splits["train"].tensors[1].repeat(5))
    assert torch.equal(inputs[:count], plain.splits["train"].tensors[0])  # the originals' spikes are unchanged
    # the first extra pattern is the first training image moved down by a row (the top row empty), written out
    images = torch.as_tensor(load_digits().data, dtype=torch.float32).view(-1, 8, 8)
    first = int(shifted.split_indices(torch.as_tensor(load_digits().target))["train"][0])
    moved = torch.zeros(8, 8)
    moved[1:] = images[first, :7]
    unaugmented = DigitsDataModule(encoder=encoder, seed=2)
    assert torch.equal(shifted.augment(images[first].reshape(1, 64), labels[:1])[0][0], moved.flatten())
    assert unaugmented.augment(images[:3].reshape(3, 64), labels[:3])[0].shape == (0, 64)


def test_random_vectors_use_any_encoder():
    from lif.data import RandomVectorsDataModule
    from lif.encoders import RateEncoder

    module = RandomVectorsDataModule(num_features=7, num_samples=30, encoder=RateEncoder(duration=50.0, seed=1), seed=2)
    module.setup()
    raster, labels = module.splits["train"].tensors
    assert raster.dtype == torch.bool and raster.shape == (30, 50, 7) and module.num_afferents == 7
    assert set(labels.tolist()) == {0, 1}


def arrays_module(path, **kwargs):
    from lif.data import ArraysDataModule

    module = ArraysDataModule(path=str(path), encoder=LatencyEncoder(1.0, 100.0), seed=0, **kwargs)
    module.setup()
    return module


def test_arrays_from_npz_and_csv(tmp_path):
    import numpy

    features = numpy.array([[0.0, 10.0], [5.0, 20.0], [10.0, 30.0], [2.0, 12.0]])
    numpy.savez(tmp_path / "data.npz", features=features, labels=numpy.array([3, 7, 3, 7]))
    module = arrays_module(tmp_path / "data.npz")
    assert module.label_names == ["3", "7"] and module.num_classes == 2
    times = module.splits["train"].tensors[0]
    assert times.min() == 0.0 and times.max() == 100.0  # each feature scaled onto [0, max_value]
    (tmp_path / "data.csv").write_text("a,label,b\n0,1,10\n5,0,20\n10,1,30\n")
    assert arrays_module(tmp_path / "data.csv").num_afferents == 2


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "path: expected an existing .npz or .csv file"),
        ({"features": [1.0, 2.0], "labels": [0, 1]}, "features [samples, features] and labels [samples]"),
        ({"features": [[1.0], [2.0], [3.0]], "labels": [0, 1]}, "of the same length"),
        ({"features": [[1.0], [float("nan")]], "labels": [0, 1]}, "expected finite feature values, got NaN or infinity at sample 1"),
        ({"features": [[1.0], [2.0]], "labels": [4, 4]}, "expected at least two classes, got only label 4"),
        ({"features": [[1.0], [2.0]], "labels": [0.5, 1.0]}, "expected integer labels"),
        ({"x": [[1.0], [2.0]], "labels": [0, 1]}, "holding arrays 'features' and 'labels', got arrays ['labels', 'x']"),
    ],
)
def test_bad_data_files_are_clear_errors(tmp_path, content, message):
    import numpy

    path = tmp_path / "data.npz"
    if content is not None:
        numpy.savez(path, **{key: numpy.array(value) for key, value in content.items()})
    with pytest.raises(ConfigError) as raised:
        arrays_module(path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_csv_without_the_label_column_names_it(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="label_column: expected a column of data.csv"):
        arrays_module(tmp_path / "data.csv")
