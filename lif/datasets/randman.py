"""Random-manifold spike data, "randman" (Zenke & Vogels 2021, Neural Computation 33:899).

Each class is a smooth random manifold of dimension D embedded in the space of ``units``
spike times. A random smooth function of one coordinate is a sum of sines with a decaying
power spectrum,

    f(x) = sum_{k=0}^{K-1} a_k s_k sin(2 pi (k b_k x + c_k)),   s_k = 1 / ((k + 1)^alpha + 1),

with a_k, b_k, c_k uniform in [0, 1) (a_0 = 0: no constant offset; the spectrum is that of the
reference implementation's default, torch, backend) and K = ceil(1e-3^(-1/alpha))
(capped at 1000) terms; ``alpha`` sets the smoothness. Unit i of a manifold maps coordinates
x in [0, 1)^D to prod_d f_id(x_d). A pattern of class c draws x uniformly, evaluates the class's
manifold, and rescales each unit to [0, 1) over the class's samples (min-max): that value is
the unit's spike time as a fraction of the window. With ``spikes_per_unit`` = S > 1 each class
has S manifolds and every unit fires S times. Every unit fires the same number of times in
every pattern, so rates and spike counts carry no information: only timing does.

Generated with a torch generator seeded once; the same seed gives the same data.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

PRECISION = 1e-3  # the spectrum is cut where s_k falls below it
MAX_TERMS = 1000


def num_terms(alpha: float) -> int:
    return int(min(math.ceil(PRECISION ** (-1.0 / alpha)), MAX_TERMS))


def random_manifold(units: int, dimensions: int, alpha: float, generator: torch.Generator) -> Tensor:
    """The parameters (a, b, c) of ``units`` x ``dimensions`` random functions: [units, D, 3, K]."""
    parameters = torch.rand(units, dimensions, 3, num_terms(alpha), generator=generator, dtype=torch.float64)
    parameters[:, :, 0, 0] = 0.0  # no constant offset
    return parameters


def evaluate(parameters: Tensor, coordinates: Tensor, alpha: float) -> Tensor:
    """Embedding [P, units] of manifold coordinates [P, D]: prod_d f_id(x_d)."""
    amplitude, frequency, phase = parameters[:, :, 0], parameters[:, :, 1], parameters[:, :, 2]  # [U, D, K]
    k = torch.arange(amplitude.shape[-1], dtype=torch.float64)
    spectrum = 1.0 / ((k + 1) ** alpha + 1.0)
    x = coordinates[:, None, :, None]  # [P, 1, D, 1]
    terms = amplitude * spectrum * torch.sin(2 * math.pi * (k * frequency * x + phase))  # [P, U, D, K]
    return terms.sum(dim=-1).prod(dim=-1)


def min_max(values: Tensor, eps: float = 1e-7) -> Tensor:
    """Each column mapped onto [0, 1) over the rows."""
    low, high = values.min(dim=0).values, values.max(dim=0).values
    return (values - low) / (high - low + eps)


def randman(
    num_classes: int, units: int, samples_per_class: int, dimensions: int = 1, alpha: float = 2.0,
    spikes_per_unit: int = 1, seed: int = 0,
) -> tuple[Tensor, Tensor]:
    """(spike times as fractions of the window [P, units, S] in [0, 1), labels [P]), classes in order."""
    generator = torch.Generator().manual_seed(seed)
    times, labels = [], []
    for label in range(num_classes):
        manifolds = [random_manifold(units, dimensions, alpha, generator) for _ in range(spikes_per_unit)]
        coordinates = torch.rand(samples_per_class, dimensions, generator=generator, dtype=torch.float64)
        times.append(torch.stack([min_max(evaluate(manifold, coordinates, alpha)) for manifold in manifolds], dim=-1))
        labels.append(torch.full((samples_per_class,), label, dtype=torch.long))
    return torch.cat(times), torch.cat(labels)
