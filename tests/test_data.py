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


def mnist_module(root, seed=0, **kwargs):
    from lif.data import MnistDataModule

    # latency with duration 255 and max_value 1: a pixel p fires at t = p / 255 * 255 = p ms
    module = MnistDataModule(root=str(root), encoder=LatencyEncoder(1.0, 255.0), seed=seed, **kwargs)
    module.setup()
    return module


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_mnist_idx_files_are_read_as_written_and_t10k_is_the_test_split(tmp_path, suffix):
    from support import write_mnist

    written = write_mnist(tmp_path, suffix=suffix)
    module = mnist_module(tmp_path, val_fraction=0.25)
    assert module.num_afferents == 784 and module.label_names == [str(digit) for digit in range(10)]
    test_times, test_labels = module.splits["test"].tensors
    images, labels = written["test"]
    assert torch.allclose(test_times, torch.as_tensor(images.reshape(-1, 784), dtype=torch.float32), atol=1e-4)
    assert test_labels.tolist() == labels.tolist()  # the t10k files, in their order
    # train and validation split the training files between them: disjoint, stratified, every image once
    images, labels = written["train"]
    assert {split: len(module.splits[split]) for split in module.splits} == {"train": 30, "val": 10, "test": 20}
    assert sorted(module.splits["val"].tensors[1].tolist()) == list(range(10))
    rows = {tuple(row) for row in images.reshape(-1, 784).tolist()}
    seen = torch.cat([module.splits[split].tensors[0] for split in ("train", "val")]).round().long()
    assert {tuple(row) for row in seen.tolist()} == rows


def test_mnist_npz_files_read_like_the_idx_files(tmp_path):
    import numpy

    from lif.data import read_mnist
    from support import write_mnist

    written = write_mnist(tmp_path / "idx")
    (train_images, train_labels), (test_images, test_labels) = written["train"], written["test"]
    numpy.savez(tmp_path / "mnist.npz", x_train=train_images, y_train=train_labels,
                x_test=test_images, y_test=test_labels)
    from_idx, from_npz = read_mnist(str(tmp_path / "idx")), read_mnist(str(tmp_path / "mnist.npz"))
    for part in ("train", "test"):
        assert all(numpy.array_equal(a, b) for a, b in zip(from_idx[part], from_npz[part]))
    assert numpy.array_equal(from_idx["train"][0], train_images.reshape(40, 784))
    # one set of images and labels: no published test set, the test split is test_fraction of them
    numpy.savez(tmp_path / "pool.npz", images=train_images, labels=train_labels)
    module = mnist_module(tmp_path / "pool.npz", val_fraction=0.25, test_fraction=0.25)
    assert {split: len(module.splits[split]) for split in module.splits} == {"train": 20, "val": 10, "test": 10}


def test_mnist_subsets_are_stratified_and_drawn_from_the_seed(tmp_path):
    from support import write_mnist

    write_mnist(tmp_path, per_digit=(6, 3))
    module = mnist_module(tmp_path, train_size=20, test_size=10, val_fraction=0.5)
    assert {split: len(module.splits[split]) for split in module.splits} == {"train": 10, "val": 10, "test": 10}
    for split in module.splits:
        assert sorted(module.splits[split].tensors[1].tolist()) == list(range(10))  # one image of each digit
    again = mnist_module(tmp_path, train_size=20, test_size=10, val_fraction=0.5)
    other = mnist_module(tmp_path, train_size=20, test_size=10, val_fraction=0.5, seed=1)
    assert torch.equal(module.splits["test"].tensors[0], again.splits["test"].tensors[0])
    assert not torch.equal(module.splits["test"].tensors[0], other.splits["test"].tensors[0])


def test_stratified_subsets_keep_class_proportions_to_within_one():
    from lif.data import stratified_subset

    labels = torch.tensor([0] * 50 + [1] * 30 + [2] * 20)
    for size in (1, 10, 33, 100):
        chosen = stratified_subset(labels, size, torch.Generator().manual_seed(size))
        assert len(chosen) == len(set(chosen.tolist())) == size
        counts = torch.bincount(labels[chosen], minlength=3)
        assert ((counts - size * torch.tensor([0.5, 0.3, 0.2])).abs() <= 1).all()


def test_odd_even_labels_are_the_digits_parity(tmp_path):
    from sklearn.datasets import load_digits

    from lif.data import DigitsDataModule
    from support import write_mnist

    written = write_mnist(tmp_path)
    module = mnist_module(tmp_path, task="odd_even", val_fraction=0.25)
    assert module.label_names == ["even", "odd"] and module.num_classes == 2
    is_odd = [digit in (1, 3, 5, 7, 9) for digit in written["test"][1].tolist()]
    assert module.splits["test"].tensors[1].tolist() == [int(odd) for odd in is_odd]
    digits = DigitsDataModule(task="odd_even", encoder=LatencyEncoder(1.0, 100.0), seed=0)
    _, labels = digits.generate()
    assert labels.tolist() == [int(digit in (1, 3, 5, 7, 9)) for digit in load_digits().target.tolist()]
    assert digits.label_names == ["even", "odd"]


def corrupt(folder, name, transform):
    path = folder / name
    path.write_bytes(transform(path.read_bytes()))


@pytest.mark.parametrize(
    "damage, message",
    [
        ("no folder", "no such folder or .npz file"),
        ("no t10k labels", "without t10k-labels-idx1-ubyte[.gz]"),
        ("wrong magic", "train-images-idx3-ubyte: magic number 0x00000903 (expected 0x00000803)"),
        ("truncated", "t10k-images-idx3-ubyte: 15000 bytes of values where its sizes [20, 28, 28] need 15680"),
        ("short header", "train-labels-idx1-ubyte: 3 bytes, shorter than its 8-byte header"),
        ("bad gzip", "train-labels-idx1-ubyte.gz: unreadable"),
        ("count mismatch", "t10k-labels-idx1-ubyte of shape [19] for the 20 images of t10k-images-idx3-ubyte"),
        ("label 10", "train-labels-idx1-ubyte with labels such as [10]"),
        ("npz keys", "mnist.npz: arrays ['features', 'y_train']"),
    ],
)
def test_missing_or_malformed_mnist_files_are_one_line_naming_root(tmp_path, damage, message):
    import numpy

    from support import write_idx, write_mnist

    root = tmp_path / "mnist"
    written = write_mnist(root)
    if damage == "no folder":
        root = tmp_path / "elsewhere"
    elif damage == "no t10k labels":
        (root / "t10k-labels-idx1-ubyte").unlink()
    elif damage == "wrong magic":
        corrupt(root, "train-images-idx3-ubyte", lambda data: data[:2] + b"\x09" + data[3:])
    elif damage == "truncated":
        corrupt(root, "t10k-images-idx3-ubyte", lambda data: data[:16 + 15000])
    elif damage == "short header":
        corrupt(root, "train-labels-idx1-ubyte", lambda data: data[:3])
    elif damage == "bad gzip":
        (root / "train-labels-idx1-ubyte").unlink()
        (root / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    elif damage == "count mismatch":
        write_idx(root / "t10k-labels-idx1-ubyte", written["test"][1][:19])
    elif damage == "label 10":
        write_idx(root / "train-labels-idx1-ubyte", numpy.where(written["train"][1] == 3, 10, written["train"][1]))
    elif damage == "npz keys":
        root = tmp_path / "mnist.npz"
        numpy.savez(root, features=written["train"][0], y_train=written["train"][1])
    with pytest.raises(ConfigError) as raised:
        mnist_module(root)
    assert raised.value.field == "data.root"  # the data module names its own group
    assert message in str(raised.value) and "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"task": "parity"}, "task"),
        ({"train_size": 0}, "train_size"),
        ({"test_size": 2.5}, "test_size"),
        ({"train_size": 41}, "data.train_size"),  # more than the files hold: known once they are read
        ({"test_fraction": 0.2}, "data.test_fraction"),  # the test split is t10k
    ],
)
def test_bad_mnist_settings_name_the_field(tmp_path, kwargs, field):
    from support import write_mnist

    write_mnist(tmp_path)
    with pytest.raises(ConfigError) as raised:
        mnist_module(tmp_path, **kwargs)
    assert raised.value.field == field
