"""Data modules: feature values -> encoder -> spike times, with disjoint stratified splits.

:class:`SpikeDataModule` owns what every data set shares: encoding the features once,
splitting them into train/val/test without overlap (stratified by label), and loaders
that index whole batches at once. Subclasses only say how features and labels are made.

Evaluation: the validation loop also runs over the *training* split, so ``train/acc`` is
the accuracy of the weights at the end of each epoch (the tempotron's learning criterion),
not an average over an epoch during which the weights changed.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, RandomSampler, SequentialSampler, TensorDataset

from lif.errors import ConfigError, require

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


class SpikeDataModule(L.LightningDataModule):
    """Encoded spike-time data with train/val/test splits.

    Batches are ``(spike_times [B, N_in], labels [B])`` with labels as class indices
    (for a binary task 1 = "should fire", 0 = "should stay silent").
    """

    def __init__(
        self,
        encoder,
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        batch_size: int = 64,
        eval_batch_size: int = 1024,
        seed: int = 0,
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
        self.splits: dict[str, TensorDataset] = {}

    def generate(self) -> tuple[Tensor, Tensor]:
        """Feature values [P, N] and integer labels [P]; subclasses implement it."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        features, labels = self.generate()
        try:
            spike_times = self.encoder(features)
        except ConfigError as error:
            raise error.within("encoder") from None
        indices = stratified_split(labels, self.val_fraction, self.test_fraction, self.seed)
        self.splits = {
            split: TensorDataset(spike_times[index], labels[index]) for split, index in indices.items() if len(index)
        }

    @property
    def evaluation_splits(self) -> list[str]:
        """Names of the loaders :meth:`val_dataloader` returns, in order."""
        return [split for split in ("train", "val") if split in self.splits]

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.splits[split]
        if shuffle:
            generator = torch.Generator().manual_seed(self.seed)
            sampler = BatchSampler(RandomSampler(dataset, generator=generator), self.batch_size, drop_last=False)
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


class RandomPatternsDataModule(SpikeDataModule):
    """The tempotron's ensemble (Gütig & Sompolinsky 2006).

    ``num_samples`` patterns of ``num_afferents`` afferents, each firing one spike at a
    uniformly random time (uniform values in [0, 1) through the latency encoder, which
    with duration T gives times uniform in [0, T)), and balanced random labels: half the
    patterns (rounded down) should fire (label 1), the others stay silent (label 0).
    Generated in memory from ``seed``.
    """

    def __init__(self, num_afferents: int = 500, num_samples: int = 500, **kwargs) -> None:
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require(num_samples >= 2, "num_samples", "an integer >= 2 (both labels must occur)", num_samples)
        super().__init__(**kwargs)
        self.num_afferents = num_afferents
        self.num_samples = num_samples

    def generate(self) -> tuple[Tensor, Tensor]:
        generator = torch.Generator().manual_seed(self.seed)
        values = torch.rand(self.num_samples, self.num_afferents, generator=generator)
        order = torch.randperm(self.num_samples, generator=generator)
        labels = (order < self.num_samples // 2).long()
        return values, labels
