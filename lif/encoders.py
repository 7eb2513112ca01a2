"""Encoders turn feature values into spike times (ms).

Latency code: a value x in [0, max_value] fires one spike at

    t = (x / max_value) * duration            (ms)

No rounding happens here: times are exact floats. The simulation (:mod:`lif.functional`)
lets a spike at t act from the first grid point t_k >= t on, with the exact kernel value
K(t_k - t), so off-grid times are not rounded either. A value equal to max_value fires at
t = duration, which with duration = T lies just past the window [0, T) and has no effect.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lif.errors import ConfigError, require


class LatencyEncoder:
    """One spike per feature, at a time proportional to its value: t = x / max_value * duration."""

    def __init__(self, max_value: float = 1.0, duration: float = 500.0) -> None:
        require(max_value > 0, "max_value", "the largest input value, > 0", max_value)
        require(duration > 0, "duration", "the latency of max_value in ms, > 0", duration)
        self.max_value = float(max_value)
        self.duration = float(duration)

    def __call__(self, values: Tensor) -> Tensor:
        """Spike times [..., N] (ms) of feature values [..., N]."""
        values = torch.as_tensor(values)
        low, high = values.min().item(), values.max().item()
        if not (0.0 <= low and high <= self.max_value):  # also catches NaN
            raise ConfigError(
                "max_value",
                f"every input value in [0, max_value={self.max_value:g}] (rescale the data or raise max_value)",
                f"values in [{low:g}, {high:g}]",
            )
        return values.to(torch.get_default_dtype()) / self.max_value * self.duration
