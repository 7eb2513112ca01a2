"""Encoders turn feature values x in [0, max_value] into input spikes.

latency     one spike per feature at t = x / max_value * duration (ms), exact floats: no
            rounding here; the simulation (:mod:`lif.exact.grid`) lets a spike at t act from
            the first grid point t_k >= t on, with the exact kernel value K(t_k - t). A value
            equal to max_value fires at t = duration, which with duration = T lies just past
            the window [0, T) and has no effect.
rate        Bernoulli (discretised Poisson) spikes on the grid: at every step of dt ms each
            feature fires with probability p = x / max_value * max_rate * dt / 1000, so its rate
            is x / max_value * max_rate Hz. A bool raster [P, L, F]; seeded, reproducible.
population  Gaussian receptive fields (the encoding SpikingJelly's tempotron uses on MNIST):
            feature f drives num_neurons neurons with preferred values mu_m evenly spaced over
            [0, max_value] and width sigma = width * spacing; neuron m responds
            r = exp(-(x - mu_m)^2 / (2 sigma^2)) and fires once at t = (1 - r) * duration, or
            not at all when r < min_response. Output [P, F * num_neurons] spike times, the
            neurons of feature f at columns f*num_neurons ... (f+1)*num_neurons - 1.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lif.env import num_steps
from lif.errors import ConfigError, require


class Encoder:
    """Checks the value range; subclasses turn values [P, F] into spikes."""

    def __init__(self, max_value: float = 1.0) -> None:
        require(max_value > 0, "max_value", "the largest input value, > 0", max_value)
        self.max_value = float(max_value)

    def check_range(self, values: Tensor) -> Tensor:
        values = torch.as_tensor(values)
        low, high = values.min().item(), values.max().item()
        if not (0.0 <= low and high <= self.max_value):  # also catches NaN
            raise ConfigError(
                "max_value",
                f"every input value in [0, max_value={self.max_value:g}] (rescale the data or raise max_value)",
                f"values in [{low:g}, {high:g}]",
            )
        return values.to(torch.get_default_dtype())


class LatencyEncoder(Encoder):
    """One spike per feature, at a time proportional to its value: t = x / max_value * duration."""

    def __init__(self, max_value: float = 1.0, duration: float = 500.0) -> None:
        super().__init__(max_value)
        require(duration > 0, "duration", "the latency of max_value in ms, > 0", duration)
        self.duration = float(duration)

    def __call__(self, values: Tensor) -> Tensor:
        """Spike times [..., F] (ms) of feature values [..., F]."""
        return self.check_range(values) / self.max_value * self.duration


class RateEncoder(Encoder):
    """Bernoulli spikes on the grid at x / max_value * max_rate Hz; a bool raster [P, L, F]."""

    def __init__(
        self, max_rate: float = 100.0, max_value: float = 1.0, duration: float = 500.0, dt: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__(max_value)
        self.num_steps = num_steps(duration, dt)
        require(0 < max_rate * dt / 1000 <= 1, "max_rate", f"a rate in (0, {1000 / dt:g}] Hz (at most one spike per step)", max_rate)
        self.max_rate = float(max_rate)
        self.dt = float(dt)
        self.seed = seed

    def __call__(self, values: Tensor) -> Tensor:
        values = self.check_range(values)
        probability = values / self.max_value * self.max_rate * self.dt / 1000.0  # [P, F]
        generator = torch.Generator().manual_seed(self.seed)
        draws = torch.rand(values.shape[0], self.num_steps, values.shape[1], generator=generator)
        return draws < probability.unsqueeze(1)


class PopulationEncoder(Encoder):
    """Gaussian receptive fields: each feature drives ``num_neurons`` neurons, each firing once."""

    def __init__(
        self,
        num_neurons: int = 8,
        max_value: float = 1.0,
        duration: float = 500.0,
        width: float = 1.5,
        min_response: float = 0.1,
    ) -> None:
        super().__init__(max_value)
        require(num_neurons >= 2, "num_neurons", "at least 2 neurons per feature", num_neurons)
        require(duration > 0, "duration", "the latency of the weakest response in ms, > 0", duration)
        require(width > 0, "width", "a receptive field width > 0 (in units of the centre spacing)", width)
        require(0 <= min_response < 1, "min_response", "a response threshold in [0, 1)", min_response)
        self.num_neurons = num_neurons
        self.duration = float(duration)
        self.centres = torch.linspace(0.0, self.max_value, num_neurons)
        self.sigma = width * self.max_value / (num_neurons - 1)
        self.min_response = float(min_response)

    def __call__(self, values: Tensor) -> Tensor:
        values = self.check_range(values)
        response = torch.exp(-((values.unsqueeze(-1) - self.centres) ** 2) / (2 * self.sigma**2))  # [P, F, M]
        times = (1.0 - response) * self.duration
        times = torch.where(response >= self.min_response, times, torch.full_like(times, math.inf))
        return times.flatten(start_dim=1)
