"""Spike times placed on the time grid t_k = k*dt (ms), exactly.

Inputs come in two forms: *spike times*, a float tensor [B, N_in] or [B, N_in, S] in ms
(S spikes per afferent, +inf/NaN padding), and *rasters*, a bool tensor [B, L, N_in] with
a spike wherever it is True (spikes on the grid, any number per afferent).

A spike at time t enters at the first grid step at or after it, k = ceil(t / dt), with a
phase factor exp(-(t_k - t) / tau_c) per exponential term of the kernel, so that spikes
between grid points act exactly: a leaky trace that starts at the phase at t_k is the
continuous exponential sampled on the grid. Spikes before t = 0 enter at k = 0 with the
phase exp(t / tau_c) they have decayed by; spikes that would enter at or after step L,
and +inf/NaN padding, are dropped (phase 0).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from lif.exact import compiled
from lif.kernels import ExponentialSumKernel


class GriddedSpikes(NamedTuple):
    """Spike times placed on the time grid.

    ``step``: [B, N_in, S] grid step (int32) at which each spike enters (0 for dropped spikes).
    ``phase``: [C, B, N_in, S] factor exp(-(t_step - t) / tau_c) of each kernel term (term-major,
    so that every operation on it is contiguous);
    zero for spikes outside the window, so they add nothing anywhere.
    """

    step: Tensor
    phase: Tensor


def grid_spikes(
    spike_times: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, dtype: torch.dtype | None = None
) -> GriddedSpikes:
    """Place spike times (ms, [B, N_in] or [B, N_in, S], +inf/NaN = no spike) on the grid."""
    if spike_times.dim() == 2:
        spike_times = spike_times.unsqueeze(-1)
    dtype = dtype or (spike_times.dtype if spike_times.is_floating_point() else torch.get_default_dtype())
    steps = grid_positions(spike_times, dt)
    entry = torch.ceil(steps)
    outside = torch.logical_not(entry < num_steps)  # at or after L*dt, +inf padding and NaN: dropped
    entry.clamp_(min=0)  # spikes before t = 0 enter at step 0, decayed by their phase
    delay = (entry - steps).masked_fill_(outside, 0.0)  # in steps, >= 0
    # phase_c = exp(-delay dt / tau_c), as a power of two (the fastest vectorised exponential)
    phase = torch.stack([torch.exp2(delay * (-dt / (tau * math.log(2.0)))) for tau in kernel.time_constants])
    phase = phase.masked_fill_(outside, 0.0).to(dtype)
    step = entry.masked_fill_(outside, 0.0).to(torch.int32)
    return GriddedSpikes(step, phase)


def grid_positions(spike_times: Tensor, dt: float) -> Tensor:
    """t / dt in float64 (float32 where a device has no float64): in float32, a time near a
    grid point could round to the neighbouring step. Every path grids with this (and
    :mod:`lif.exact.compiled` with the same formula)."""
    precise = torch.float32 if spike_times.device.type == "mps" else torch.float64
    return spike_times.to(precise) * (1.0 / dt)


def is_raster(inputs: Tensor) -> bool:
    """True for a bool spike raster [B, L, N_in], False for spike times."""
    return inputs.dtype == torch.bool


def check_raster(raster: Tensor, num_steps: int) -> None:
    if raster.dim() != 3 or raster.shape[1] != num_steps:
        raise ValueError(f"a spike raster must be [batch, {num_steps} steps, afferents], got {list(raster.shape)}")


def spike_counts(inputs: Tensor, dt: float, num_steps: int) -> Tensor:
    """How many times each afferent fires during the pattern, [B, N_in].

    Counted are the spikes in [0, L*dt) that enter the grid (so not one in the last
    fraction of a step, nor padding); spikes before t = 0 drive V through their decayed
    phase but are not the pattern's own spikes and are not counted.
    """
    if is_raster(inputs):
        if inputs.device.type == "cpu":  # torch's sum over the middle axis of bools: ~20x slower
            return torch.from_numpy(compiled.raster_counts(inputs.contiguous().view(torch.uint8).numpy()))
        return inputs.sum(dim=1)
    positions = grid_positions(inputs if inputs.dim() == 3 else inputs.unsqueeze(-1), dt)
    inside = (positions >= 0) & (torch.ceil(positions) < num_steps)  # False for inf and NaN
    return inside.sum(dim=-1)


def input_rate(inputs: Tensor, dt: float, num_steps: int) -> Tensor:
    """Spikes per afferent per step of each pattern [B] (the spikes :func:`spike_counts` counts)."""
    counts = spike_counts(inputs, dt, num_steps)
    return counts.sum(dim=1).to(torch.get_default_dtype()) / (counts.shape[1] * num_steps)
