"""The random-manifold generator: its functions written out, timing-only information, determinism."""

import math

import pytest
import torch

from lif.data import RandmanDataModule
from lif.datasets.randman import evaluate, num_terms, random_manifold, randman
from lif.encoders import LatencyEncoder
from lif.errors import ConfigError


def test_a_manifold_is_the_product_of_random_sums_of_sines():
    generator = torch.Generator().manual_seed(0)
    alpha = 2.0
    parameters = random_manifold(units=3, dimensions=2, alpha=alpha, generator=generator)
    assert num_terms(alpha) == 32 and parameters.shape == (3, 2, 3, 32)  # ceil(1000^(1/2)) terms
    coordinates = torch.rand(5, 2, generator=generator, dtype=torch.float64)
    expected = torch.ones(5, 3, dtype=torch.float64)
    for p in range(5):
        for unit in range(3):
            for d in range(2):
                a, b, c = parameters[unit, d]
                x = coordinates[p, d].item()
                expected[p, unit] *= sum(
                    a[k] / ((k + 1) ** alpha + 1) * math.sin(2 * math.pi * (k * x * b[k] + c[k])) for k in range(32)
                )
    torch.testing.assert_close(evaluate(parameters, coordinates, alpha), expected)
    assert torch.all(parameters[:, :, 0, 0] == 0)  # no constant offset


def test_every_unit_fires_its_spikes_in_every_pattern_at_times_in_the_window():
    times, labels = randman(num_classes=4, units=7, samples_per_class=30, dimensions=1, spikes_per_unit=2, seed=3)
    assert times.shape == (120, 7, 2) and labels.tolist() == sum([[label] * 30 for label in range(4)], [])
    assert torch.all((times >= 0) & (times < 1))
    for label in range(4):  # min-max per unit over the class: each unit spans the window
        members = times[labels == label]
        assert torch.all(members.amin(dim=0) == 0) and torch.all(members.amax(dim=0) > 0.999)


def test_same_seed_same_data_other_seed_other_data():
    first, _ = randman(3, 5, 10, seed=1)
    again, _ = randman(3, 5, 10, seed=1)
    other, _ = randman(3, 5, 10, seed=2)
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_the_data_module_encodes_latencies_and_splits_by_class():
    module = RandmanDataModule(num_classes=3, units=6, samples_per_class=20, encoder=LatencyEncoder(1.0, 80.0),
                               val_fraction=0.25, test_fraction=0.25, seed=5)
    module.setup()
    times, labels = module.splits["train"].tensors
    assert times.shape == (30, 6) and module.num_afferents == 6 and module.num_classes == 3
    assert 0 <= times.min() and times.max() < 80
    assert torch.bincount(labels).tolist() == [10, 10, 10]
    multi = RandmanDataModule(num_classes=2, units=4, samples_per_class=10, spikes_per_unit=3, encoder=LatencyEncoder(),
                              seed=5)
    multi.setup()
    assert multi.splits["train"].tensors[0].shape == (20, 4, 3) and multi.num_afferents == 4


@pytest.mark.parametrize(
    "kwargs, field",
    [({"num_classes": 1}, "num_classes"), ({"units": 0}, "units"), ({"alpha": 0.0}, "alpha"),
     ({"spikes_per_unit": 0}, "spikes_per_unit"), ({"dimensions": 0}, "dimensions")],
)
def test_bad_values_name_the_field(kwargs, field):
    with pytest.raises(ConfigError) as raised:
        RandmanDataModule(encoder=LatencyEncoder(), **kwargs)
    assert raised.value.field == field
