"""Data modules: feature values -> encoder -> input spikes, with disjoint stratified splits.

:class:`SpikeDataModule` owns what every data set shares: encoding the features once,
splitting them into train/val/test without overlap (stratified by label), and loaders
that index whole batches at once. Subclasses only say how features (scaled into the
encoder's range [0, max_value]) and integer labels are made:

random_patterns  the tempotron ensemble: uniform latencies, balanced labels
random_vectors   the seed's RandomDataset: uniform random vectors, random labels
digits           scikit-learn's bundled 8x8 digits (1797 images, 10 classes, no download)
mnist            MNIST from its IDX files (or an .npz) in a folder: never downloaded
arrays           a user's .npz or .csv file of features and integer labels
yin_yang         the Yin-Yang task (:mod:`lif.datasets.yin_yang`): splits generated from their own seeds
randman          random-manifold spike timing (:mod:`lif.datasets.randman`)

Evaluation: the validation loop also runs over the *training* split, so ``train/acc`` is
the accuracy of the weights at the end of each epoch (the tempotron's learning criterion),
not an average over an epoch during which the weights changed.
"""

from __future__ import annotations

import csv
import gzip
import math
import zipfile
import zlib
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Sampler, SequentialSampler, TensorDataset

from lif.errors import ConfigError, one_line, require
from lif.seeds import epoch_seed

SPLITS = ("train", "val", "test")


def stratified_split(labels: Tensor, val_fraction: float, test_fraction: float, seed: int) -> dict[str, Tensor]:
    """Disjoint index sets {train, val, test}; each class is split in the given proportions."""
    generator = torch.Generator().manual_seed(seed)
    parts: dict[str, list[Tensor]] = {split: [] for split in SPLITS}
    for label in torch.unique(labels):
        members = torch.nonzero(labels == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        num_test = round(test_fraction * len(members))
        num_val = round(val_fraction * len(members))
        parts["test"].append(members[:num_test])
        parts["val"].append(members[num_test : num_test + num_val])
        parts["train"].append(members[num_test + num_val :])
    return {split: torch.sort(torch.cat(indices)).values for split, indices in parts.items()}


def stratified_subset(labels: Tensor, size: int, generator: torch.Generator) -> Tensor:
    """``size`` indices into ``labels`` (sorted), drawn at random with every class in proportion
    to its count (to within one pattern): each class's members, in random order, are spread
    evenly over [0, 1) and the ``size`` lowest positions are taken."""
    order = torch.randperm(len(labels), generator=generator)
    position = torch.empty(len(labels), dtype=torch.float64)
    for label in torch.unique(labels):
        members = order[labels[order] == label]
        position[members] = (torch.arange(len(members), dtype=torch.float64) + 0.5) / len(members)
    chosen = order[torch.argsort(position[order], stable=True)[:size]]  # ties between classes: in random order
    return torch.sort(chosen).values


# The tasks on handwritten digits 0..9 (``task`` of the digits and MNIST data modules):
# the class label each digit gets, and the classes' names.
DIGIT_TASKS = {
    "digits": (lambda digits: digits, [str(digit) for digit in range(10)]),  # ten classes
    "odd_even": (lambda digits: digits % 2, ["even", "odd"]),  # binary: 1 = odd digit, 0 = even
}


def check_digit_task(task: str) -> None:
    require(task in DIGIT_TASKS, "task", f"one of {', '.join(DIGIT_TASKS)}", task)


def digit_task_labels(task: str, digits: Tensor) -> tuple[Tensor, list[str]]:
    """Class labels [P] of ``task`` for digit labels [P] in 0..9, and the classes' names."""
    relabel, names = DIGIT_TASKS[task]
    return relabel(digits), list(names)


class ShuffledBatches(Sampler[Tensor]):
    """Batches of indices 0 .. size-1 in an order drawn afresh each epoch from (seed, epoch)
    alone: Lightning calls :meth:`set_epoch` before each training epoch, so a run resumed at
    epoch e sees the batches the uninterrupted run saw."""

    def __init__(self, size: int, batch_size: int, seed: int) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        yield from torch.randperm(self.size, generator=generator).split(self.batch_size)

    def __len__(self) -> int:
        return -(-self.size // self.batch_size)


class SpikeDataModule(L.LightningDataModule):
    """Encoded spike-time data with train/val/test splits.

    Batches are ``(inputs, labels [B])``: inputs are spike times [B, N_in] (ms) or a bool
    raster [B, L, N_in], as the encoder makes them; labels are class indices (for a binary
    task 1 = "should fire", 0 = "should stay silent"). ``label_names`` name the classes in
    metric names (``val/acc_label_<name>``).
    """

    def __init__(
        self,
        encoder,
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        seed: int = 0,
        with_features: bool = False,
    ) -> None:
        super().__init__()
        require(0 <= val_fraction < 1, "val_fraction", "a fraction in [0, 1)", val_fraction)
        require(0 <= test_fraction < 1, "test_fraction", "a fraction in [0, 1)", test_fraction)
        require(
            val_fraction + test_fraction < 1,
            "test_fraction",
            f"a fraction below 1 - val_fraction = {1 - val_fraction:g}, so that training patterns remain",
            test_fraction,
        )
        require(batch_size >= 1, "batch_size", "an integer >= 1", batch_size)
        require(eval_batch_size >= 1, "eval_batch_size", "an integer >= 1", eval_batch_size)
        self.encoder = encoder
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.seed = seed
        self.with_features = bool(with_features)  # batches also carry the raw sample (a model that reads it)
        self.splits: dict[str, TensorDataset] = {}
        self.label_names: list[str] = []

    def generate(self) -> tuple[Tensor, Tensor]:
        """Feature values [P, F] in [0, encoder.max_value] and labels [P] in 0 .. K-1."""
        raise NotImplementedError

    @property
    def num_afferents(self) -> int:
        """Width of the encoded input (known after :meth:`setup`)."""
        inputs = self.splits["train"].tensors[0]
        return inputs.shape[2] if inputs.dtype == torch.bool else inputs.shape[1]

    @property
    def num_raw_features(self) -> int:
        """Width of the raw sample (known after :meth:`setup` with ``with_features``)."""
        return self.splits["train"].tensors[2].shape[1]

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        try:
            features, labels = self.generate()
            indices = self.split_indices(labels)
            self.check_splits(indices, len(labels))
        except ConfigError as error:  # named as the app's config names them
            raise error.within("data") from None
        if not self.label_names:
            self.label_names = [str(label) for label in range(int(labels.max()) + 1)]
        extra_features, extra_labels = self.augment(features[indices["train"]], labels[indices["train"]])
        try:
            # encoded together, extra patterns last: the original patterns' spikes are those of
            # encoding them alone (a seeded rate encoder draws them first)
            spike_times = self.encoder(torch.cat([features, extra_features]) if len(extra_labels) else features)
        except ConfigError as error:
            raise error.within("encoder") from None
        columns = [spike_times, torch.cat([labels, extra_labels])]
        if self.with_features:  # the raw sample, flat, next to its spikes
            columns.append(torch.cat([features, extra_features]).flatten(1).to(torch.get_default_dtype()))
        indices = {**indices, "train": torch.cat([indices["train"], torch.arange(len(features), len(columns[1]))])}
        self.splits = {
            split: TensorDataset(*(column[index] for column in columns)) for split, index in indices.items() if len(index)
        }

    def split_indices(self, labels: Tensor) -> dict[str, Tensor]:
        """The patterns of each split: disjoint and stratified, in the configured fractions."""
        return stratified_split(labels, self.val_fraction, self.test_fraction, self.seed)

    def check_splits(self, indices: dict[str, Tensor], num_patterns: int) -> None:
        """Every split asked for (a fraction > 0) holds patterns, and so does the training split."""
        for split in ("val", "test"):
            fraction = getattr(self, f"{split}_fraction")
            require(
                fraction == 0 or len(indices[split]) > 0, f"{split}_fraction",
                f"0 (no {split} split) or a fraction that gives it patterns "
                f"({num_patterns} patterns, split per class and rounded: {split} came out empty)",
                fraction,
            )
        require(
            len(indices["train"]) > 0, "val_fraction", f"fractions that leave training patterns ({num_patterns} patterns)",
            self.val_fraction,
        )

    def augment(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        """Extra training patterns made from the training split's (features, labels); none by default."""
        return features[:0], labels[:0]

    @property
    def evaluation_splits(self) -> list[str]:
        """Names of the loaders :meth:`val_dataloader` returns, in order."""
        return [split for split in ("train", "val") if split in self.splits]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        if shuffle:
            sampler = ShuffledBatches(len(dataset), self.batch_size, self.seed)
        else:
            sampler = BatchSampler(SequentialSampler(dataset), self.eval_batch_size, drop_last=False)
        # batch_size=None: the dataset is indexed with a whole batch of indices at once.
        return DataLoader(dataset, sampler=sampler, batch_size=None)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        return [self._loader(split, shuffle=False) for split in self.evaluation_splits]

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader("test", shuffle=False)] if "test" in self.splits else []


class RandomVectorsDataModule(SpikeDataModule):
    """The seed's RandomDataset: ``num_samples`` vectors of ``num_features`` values uniform in
    [0, max_value), each labelled 0 or 1 with probability 1/2, encoded by any encoder."""

    def __init__(self, num_features: int = 500, num_samples: int = 500, **kwargs) -> None:
        require(num_features >= 1, "num_features", "an integer >= 1", num_features)
        require(num_samples >= 2, "num_samples", "an integer >= 2 (both labels must occur)", num_samples)
        super().__init__(**kwargs)
        self.num_features = num_features
        self.num_samples = num_samples

    def labels(self, generator: torch.Generator) -> Tensor:
        labels = torch.randint(0, 2, (self.num_samples,), generator=generator)
        require(len(torch.unique(labels)) == 2, "num_samples", "enough samples for both labels to occur", self.num_samples)
        return labels

    def generate(self) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        values = torch.rand(self.num_samples, self.num_features, generator=generator) * self.encoder.max_value
        return values, self.labels(generator)


class RandomPatternsDataModule(RandomVectorsDataModule):
    """The tempotron's ensemble (Gütig & Sompolinsky 2006).

    ``num_samples`` patterns of ``num_afferents`` afferents, each firing one spike at a
    uniformly random time (uniform values in [0, max_value) through the latency encoder,
    which with duration T gives times uniform in [0, T)), and balanced random labels: half
    the patterns (rounded down) should fire (label 1), the others stay silent (label 0).
    Generated in memory from ``seed``.
    """

    def __init__(self, num_afferents: int = 500, num_samples: int = 500, **kwargs) -> None:
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        super().__init__(num_features=num_afferents, num_samples=num_samples, **kwargs)

    def labels(self, generator: torch.Generator) -> Tensor:
        order = torch.randperm(self.num_samples, generator=generator)
        return (order < self.num_samples // 2).long()


class DigitsDataModule(SpikeDataModule):
    """scikit-learn's bundled handwritten digits: 1797 images of 8x8 pixels with values 0..16,
    labels 0..9. Pixels are scaled to the encoder's range: x = pixel / 16 * max_value.

    ``augment_shifts``: add to the training split each training image shifted by one pixel
    up, down, left and right (the pixels shifted in are 0): five times the training patterns;
    validation and test stay as they are. ``task``: ``digits`` (ten classes) or ``odd_even``
    (binary: 1 = odd digit, 0 = even)."""

    def __init__(self, augment_shifts: bool = False, task: str = "digits", **kwargs) -> None:
        check_digit_task(task)
        super().__init__(**kwargs)
        self.augment_shifts = bool(augment_shifts)
        self.task = task

    def augment(self, features: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        if not self.augment_shifts:
            return super().augment(features, labels)
        images = features.view(-1, 8, 8)
        padded = torch.nn.functional.pad(images, (1, 1, 1, 1))  # [P, 10, 10], zeros around
        shifted = [padded[:, 1 + dy : 9 + dy, 1 + dx : 9 + dx] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        return torch.cat(shifted).reshape(-1, 64), labels.repeat(len(shifted))

    def generate(self) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits

        digits = load_digits()
        values = torch.as_tensor(digits.data, dtype=torch.get_default_dtype()) / 16.0 * self.encoder.max_value
        labels, self.label_names = digit_task_labels(self.task, torch.as_tensor(digits.target, dtype=torch.long))
        return values, labels


# MNIST's files as LeCun's site published them; each may also be gzip-compressed (name + ".gz").
MNIST_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
# Array names an .npz may use: Keras's mnist.npz, or one set of images without a test set.
MNIST_NPZ_LAYOUTS = (
    {("train", "images"): "x_train", ("train", "labels"): "y_train",
     ("test", "images"): "x_test", ("test", "labels"): "y_test"},
    {("train", "images"): "images", ("train", "labels"): "labels"},
)
MNIST_SOURCE = "a folder holding MNIST's IDX files (optionally .gz) or an .npz file"
IDX_UNSIGNED_BYTE = 0x08  # the IDX type code of MNIST's values


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """The array of unsigned bytes with ``ndim`` dimensions in the IDX file ``path`` (gzip-compressed
    when the name ends in .gz).

    IDX: the magic number 0x00 0x00 <type code 0x08> <ndim>, then ndim sizes as big-endian
    32-bit integers, then the values in C order: exactly prod(sizes) bytes. Anything else is a
    ConfigError naming ``root``, the file and what is wrong with it.
    """

    def malformed(problem: str) -> ConfigError:
        return ConfigError("root", f"an IDX file of unsigned bytes with {ndim} dimension(s)", f"{path}: {problem}")

    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise malformed(f"unreadable ({error})") from None
    header = 4 + 4 * ndim
    if len(data) < header:
        raise malformed(f"{len(data)} bytes, shorter than its {header}-byte header")
    magic = int.from_bytes(data[:4], "big")
    if magic != IDX_UNSIGNED_BYTE << 8 | ndim:
        raise malformed(f"magic number 0x{magic:08x} (expected 0x{IDX_UNSIGNED_BYTE << 8 | ndim:08x})")
    sizes = [int(size) for size in np.frombuffer(data, dtype=">u4", count=ndim, offset=4)]
    if len(data) != header + math.prod(sizes):
        raise malformed(f"{len(data) - header} bytes of values where its sizes {sizes} need {math.prod(sizes)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(sizes)


def read_mnist_idx(folder: Path) -> dict[tuple[str, str], tuple[np.ndarray, str]]:
    """MNIST's four IDX files in ``folder``: {(part, kind): (array, file name)}."""
    found = {key: [folder / name, folder / f"{name}.gz"] for key, name in MNIST_FILES.items()}
    missing = [f"{MNIST_FILES[key]}[.gz]" for key, paths in found.items() if not any(path.is_file() for path in paths)]
    require(not missing, "root", MNIST_SOURCE, f"{folder} without {', '.join(missing)}")
    arrays = {}
    for (part, kind), paths in found.items():
        path = next(path for path in paths if path.is_file())
        arrays[part, kind] = read_idx(path, ndim=3 if kind == "images" else 1), path.name
    return arrays


def read_mnist_npz(path: Path) -> dict[tuple[str, str], tuple[np.ndarray, str]]:
    """The arrays of an .npz in one of :data:`MNIST_NPZ_LAYOUTS`: {(part, kind): (array, name)}."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            for layout in MNIST_NPZ_LAYOUTS:
                if set(layout.values()) <= set(arrays.files):
                    return {key: (np.asarray(arrays[name]), f"{path.name}[{name}]") for key, name in layout.items()}
            names = [", ".join(layout.values()) for layout in MNIST_NPZ_LAYOUTS]
            raise ConfigError("root", f"an .npz holding arrays {' or '.join(names)}",
                              f"{path}: arrays {sorted(arrays.files)}")
    except ConfigError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ConfigError("root", "a readable .npz file of numeric arrays", f"{path}: {error}") from None


def read_mnist(root: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{part: (pixels [count, rows * columns] in 0..255, digits [count] in 0..9)} for the parts
    "train" and, where the files have one, "test", read from ``root`` (a folder of IDX files or an
    .npz). A missing or malformed file is a ConfigError naming ``root``."""
    path = Path(root)
    if path.is_dir():
        arrays = read_mnist_idx(path)
    elif path.is_file() and path.suffix == ".npz":
        arrays = read_mnist_npz(path)
    else:
        raise ConfigError("root", MNIST_SOURCE, f"{root} (no such folder or .npz file)")
    parts = {}
    for part in ("train", "test"):
        if (part, "images") not in arrays:
            continue
        (images, images_name), (labels, labels_name) = arrays[part, "images"], arrays[part, "labels"]
        require(images.ndim in (2, 3) and len(images) >= 1 and images[0].size >= 1, "root",
                "images [count, rows, columns] or [count, pixels]", f"{images_name} of shape {list(images.shape)}")
        require(labels.ndim == 1 and len(labels) == len(images), "root", "one label per image",
                f"{labels_name} of shape {list(labels.shape)} for the {len(images)} images of {images_name}")
        pixels = images.reshape(len(images), -1)
        require(np.issubdtype(pixels.dtype, np.number) and pixels.min() >= 0 and pixels.max() <= 255, "root",
                "pixel values in 0..255", f"{images_name} with values from {pixels.min()} to {pixels.max()}")
        digits = np.isin(labels, np.arange(10))  # False for anything but the integers 0..9
        require(bool(digits.all()), "root", "digit labels 0..9",
                f"{labels_name} with labels such as {np.unique(labels[~digits])[:3].tolist()}")
        parts[part] = pixels, labels.astype(np.int64)
    if "test" in parts:
        widths = [parts[part][0].shape[1] for part in ("train", "test")]
        require(widths[0] == widths[1], "root", "training and test images of the same size",
                f"{widths[0]} and {widths[1]} pixels per image")
    return parts


class MnistDataModule(SpikeDataModule):
    """MNIST's handwritten digits from files in ``root``; never downloaded.

    ``root``: a folder with the four IDX files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
    optionally .gz), or an .npz with arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``
    (Keras's mnist.npz) or just ``images`` and ``labels`` (no published test set). Pixels 0..255
    are scaled to the encoder's range: x = pixel / 255 * max_value.

    Splits: the test split is the published test set (t10k), never mixed with the training
    files; validation is ``val_fraction`` of the training files (stratified). An .npz without a
    test set gives a test split of ``test_fraction`` of its images, drawn like the validation
    split. ``train_size`` / ``test_size`` (null: all) take stratified random subsets of the
    training and test files, drawn from ``seed``, before anything is encoded. ``task``:
    ``digits`` (ten classes) or ``odd_even`` (binary: 1 = odd digit, 0 = even).
    """

    def __init__(self, root: str, task: str = "digits", train_size: int | None = None, test_size: int | None = None,
                 **kwargs) -> None:
        check_digit_task(task)
        for name, size in (("train_size", train_size), ("test_size", test_size)):
            require(size is None or (isinstance(size, int) and not isinstance(size, bool) and size >= 1), name,
                    "null (every image) or an integer >= 1", size)
        super().__init__(**kwargs)
        self.root, self.task = str(root), task
        self.sizes = {"train": train_size, "test": test_size}
        self.num_test = 0  # the published test images, last among the generated patterns

    def generate(self) -> tuple[Tensor, Tensor]:
        parts = read_mnist(self.root)
        if "test" in parts:
            require(self.test_fraction == 0, "test_fraction",
                    "0: the test split is the test files (subsample them with test_size)", self.test_fraction)
        else:
            require(self.sizes["test"] is None, "test_size",
                    f"null: {self.root} has no test set (the test split is test_fraction of its images)",
                    self.sizes["test"])
        generator = torch.Generator().manual_seed(self.seed)
        chosen = {part: self.subset(part, digits, generator) for part, (_, digits) in parts.items()}
        pixels = np.concatenate([parts[part][0][index] for part, index in chosen.items()])
        digits = np.concatenate([parts[part][1][index] for part, index in chosen.items()])
        self.num_test = len(chosen.get("test", []))
        values = torch.as_tensor(pixels, dtype=torch.get_default_dtype()) / 255.0 * self.encoder.max_value
        labels, self.label_names = digit_task_labels(self.task, torch.as_tensor(digits))
        return values, labels

    def subset(self, part: str, digits: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """Indices of the ``part`` images used: all, or ``<part>_size`` of them, stratified by digit."""
        size = self.sizes[part]
        if size is None:
            return np.arange(len(digits))
        require(size <= len(digits), f"{part}_size", f"at most the {len(digits)} {part} images in {self.root}", size)
        return stratified_subset(torch.as_tensor(digits), size, generator).numpy()

    def split_indices(self, labels: Tensor) -> dict[str, Tensor]:
        """Validation (and, without test files, test) drawn from the training files, stratified; the
        test split is the test files."""
        num_train = len(labels) - self.num_test
        indices = stratified_split(labels[:num_train], self.val_fraction, self.test_fraction, self.seed)
        if self.num_test:
            indices["test"] = torch.arange(num_train, len(labels))
        return indices


class ArraysDataModule(SpikeDataModule):
    """Features and integer labels from a file.

    ``.npz``: arrays named ``features_key`` [samples, features] and ``labels_key`` [samples].
    ``.csv``: a header row; the column ``label_column`` holds the labels, every other column
    is a feature. Labels are integers (any values: they are numbered 0 .. K-1 in sorted
    order and keep their own names in the metrics). ``scale``: ``minmax`` maps each feature
    linearly onto [0, max_value] (a constant feature becomes 0); ``none`` passes values as
    they are (they must already lie in the encoder's range).
    """

    def __init__(
        self,
        path: str,
        features_key: str = "features",
        labels_key: str = "labels",
        label_column: str = "label",
        scale: str = "minmax",
        **kwargs,
    ) -> None:
        require(scale in ("minmax", "none"), "scale", "minmax or none", scale)
        super().__init__(**kwargs)
        self.path = str(path)
        self.features_key, self.labels_key, self.label_column = features_key, labels_key, label_column
        self.scale = scale

    def _read(self) -> tuple[np.ndarray, np.ndarray]:
        path = Path(self.path)
        require(path.is_file(), "path", "an existing .npz or .csv file", self.path)
        if path.suffix == ".npz":
            return self._read_npz(path)
        require(path.suffix == ".csv", "path", "a .npz or .csv file", self.path)
        with open(path, newline="") as handle:
            header = next(csv.reader(handle), [])
        require(bool(header), "path", "a CSV file with a header row", f"{path.name}: an empty file")
        require(self.label_column in header, "label_column", f"a column of {path.name} (columns: {', '.join(header)})", self.label_column)
        try:
            table = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=float, ndmin=2)
        except ValueError as error:
            raise ConfigError("path", "a CSV file with one number per cell", f"{path.name}: {one_line(error)}") from None
        require(
            table.size > 0 and table.shape[1] == len(header), "path", f"a CSV file with rows of {len(header)} cells under its header",
            f"{path.name}: {'no rows' if table.size == 0 else f'rows of {table.shape[1]} cells'}",
        )
        label_index = header.index(self.label_column)
        return np.delete(table, label_index, axis=1), table[:, label_index]

    def _read_npz(self, path: Path) -> tuple[np.ndarray, np.ndarray]:
        expected = f"a .npz file of numeric arrays (numpy.savez) holding arrays {self.features_key!r} and {self.labels_key!r}"
        try:
            with np.load(path, allow_pickle=False) as arrays:
                for key in (self.features_key, self.labels_key):
                    require(key in arrays, "path", expected, f"arrays {sorted(arrays.files)}")
                return np.asarray(arrays[self.features_key]), np.asarray(arrays[self.labels_key])
        except ConfigError:
            raise
        except (OSError, EOFError, ValueError, TypeError, zipfile.BadZipFile) as error:  # not a .npz, or pickled objects
            raise ConfigError("path", expected, f"{path.name}: {one_line(error)}") from None

    def generate(self) -> tuple[Tensor, Tensor]:
        features, labels = self._read()
        require(
            features.ndim == 2 and labels.ndim == 1 and len(features) == len(labels) and features.shape[1] >= 1,
            "path",
            "features [samples, features] and labels [samples] of the same length",
            f"features of shape {list(features.shape)} and labels of shape {list(labels.shape)}",
        )
        require(features.dtype.kind in "biuf", "path", "numeric features", f"features of type {features.dtype}")
        require(labels.dtype.kind in "biuf", "path", "integer labels", f"labels of type {labels.dtype}: {labels[:3].tolist()}")
        features = features.astype(float)
        bad = np.argwhere(~np.isfinite(features))
        require(not len(bad), "path", "finite feature values", f"NaN or infinity at sample {bad[0][0] if len(bad) else 0}, feature {bad[0][1] if len(bad) else 0}")
        labels = labels.astype(float)
        require(np.all(np.isfinite(labels)) and np.all(labels == np.round(labels)), "path", "integer labels", f"labels such as {labels[~(labels == np.round(labels))][:3].tolist()}")
        names, indices = np.unique(labels.astype(np.int64), return_inverse=True)
        require(len(names) >= 2, "path", "at least two classes", f"only label {names[0]}" if len(names) else "no samples")
        if self.scale == "minmax":
            low, span = features.min(axis=0), np.ptp(features, axis=0)
            features = np.where(span > 0, (features - low) / np.where(span > 0, span, 1.0), 0.0) * self.encoder.max_value
        self.label_names = [str(name) for name in names]
        return torch.as_tensor(features, dtype=torch.get_default_dtype()), torch.as_tensor(indices, dtype=torch.long)


class YinYangDataModule(SpikeDataModule):
    """The Yin-Yang task: ``train_size`` / ``val_size`` / ``test_size`` points, each split generated
    from its own seed (``split_seeds`` [train, val, test]; null: three seeds derived from ``seed``;
    [42, 41, 40] gives the published data set). Features (x, y, 1-x, 1-y) in [0, 1] are scaled to
    the encoder's range; ``bias`` (a value in [0, 1], null: none) adds a fifth feature that is the
    same in every pattern: with the latency encoder, a reference spike at bias * duration."""

    def __init__(
        self,
        train_size: int = 5000,
        val_size: int = 1000,
        test_size: int = 1000,
        split_seeds: list[int] | None = None,
        bias: float | None = 0.0,
        r_small: float = 0.1,
        r_big: float = 0.5,
        **kwargs,
    ) -> None:
        require(isinstance(train_size, int) and train_size >= 3, "train_size", "an integer >= 3", train_size)
        require(isinstance(val_size, int) and val_size >= 0, "val_size", "an integer >= 0", val_size)
        require(isinstance(test_size, int) and test_size >= 0, "test_size", "an integer >= 0", test_size)
        require(
            split_seeds is None or (len(split_seeds) == 3 and all(isinstance(seed, int) for seed in split_seeds)),
            "split_seeds", "null or three integers [train, val, test]", split_seeds,
        )
        require(bias is None or 0 <= bias <= 1, "bias", "null (no bias input) or a value in [0, 1]", bias)
        require(0 < r_small < r_big / 2, "r_small", f"a dot radius in (0, r_big/2 = {r_big / 2:g})", r_small)
        super().__init__(**kwargs)
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.split_seeds = list(split_seeds) if split_seeds is not None else None
        self.bias, self.r_small, self.r_big = bias, float(r_small), float(r_big)
        from lif.datasets.yin_yang import CLASS_NAMES

        self.label_names = list(CLASS_NAMES)

    def seeds(self) -> list[int]:
        """[train, val, test] seeds: the configured ones, or three independent streams spawned from ``seed``."""
        if self.split_seeds is not None:
            return self.split_seeds
        return [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(self.seed).spawn(3)]

    def generate(self) -> tuple[Tensor, Tensor]:
        from lif.datasets.yin_yang import yin_yang

        parts = [yin_yang(self.sizes[split], seed, self.r_small, self.r_big) for split, seed in zip(SPLITS, self.seeds())]
        inputs = np.concatenate([inputs for inputs, _ in parts]) / (2 * self.r_big)  # into [0, 1]
        if self.bias is not None:
            inputs = np.concatenate([inputs, np.full((len(inputs), 1), self.bias)], axis=1)
        labels = np.concatenate([labels for _, labels in parts])
        values = torch.as_tensor(inputs, dtype=torch.get_default_dtype()) * self.encoder.max_value
        return values.clamp(0, self.encoder.max_value), torch.as_tensor(labels)

    def split_indices(self, labels: Tensor) -> dict[str, Tensor]:
        """The generated splits as they were generated: train, then val, then test."""
        ends = np.cumsum([self.sizes[split] for split in SPLITS])
        return {split: torch.arange(end - self.sizes[split], end) for split, end in zip(SPLITS, ends)}


class RandmanDataModule(SpikeDataModule):
    """Random-manifold spike timing: ``num_classes`` manifolds of dimension ``dimensions`` over
    ``units`` input units, each firing ``spikes_per_unit`` times per pattern at times given by the
    manifold (``alpha``: smoothness); ``samples_per_class`` patterns per class, from ``seed``.
    The times, fractions of the window in [0, 1), are the features: the latency encoder turns them
    into spikes in [0, duration). Split into stratified train/val/test sets."""

    def __init__(
        self,
        num_classes: int = 10,
        units: int = 20,
        samples_per_class: int = 500,
        dimensions: int = 1,
        alpha: float = 2.0,
        spikes_per_unit: int = 1,
        **kwargs,
    ) -> None:
        for name, value, low in (("num_classes", num_classes, 2), ("units", units, 1), ("samples_per_class", samples_per_class, 2),
                                 ("dimensions", dimensions, 1), ("spikes_per_unit", spikes_per_unit, 1)):
            require(isinstance(value, int) and not isinstance(value, bool) and value >= low, name, f"an integer >= {low}", value)
        require(alpha > 0, "alpha", "a smoothness exponent > 0", alpha)
        super().__init__(**kwargs)
        self.classes, self.units, self.samples_per_class = num_classes, units, samples_per_class
        self.dimensions, self.alpha, self.spikes_per_unit = dimensions, float(alpha), spikes_per_unit

    def generate(self) -> tuple[Tensor, Tensor]:
        from lif.datasets.randman import randman

        times, labels = randman(self.classes, self.units, self.samples_per_class, self.dimensions,
                                self.alpha, self.spikes_per_unit, self.seed)
        values = times.to(torch.get_default_dtype()) * self.encoder.max_value
        return (values[..., 0] if self.spikes_per_unit == 1 else values), labels
