"""Readouts: what an output layer reports per pattern and output, a score [B, O] (higher = more that class).

From the output layer's voltages V[b, k, o] and spikes s[b, k, o] on the grid t_k = k dt (ms):

    max           max_k V[k]                         the tempotron's readout; its gradient flows at t_max only
    mean          (1/L) sum_k V[k]
    last          V[L-1]
    spike_count   sum_k s[k]                         needs a spiking output layer
    first_spike   -t_first,  t_first = dt sum_k prod_{j<=k} (1 - s[j])   (ms; L dt when it never fires)
    smooth_max    (1/beta) log((1/L) sum_k exp(beta V[k]))   a soft maximum: -> max as beta -> infinity,
                  >= mean, and its gradient is the softmax_k(beta V) average of dV(t_k)/dW

first_spike: the product is 1 until the first spike and 0 from it on, so the sum counts the steps
before it; with surrogate spikes it is differentiable: an earlier spike lowers t_first. The score
is minus the time, so that the earliest output wins an argmax and a cross-entropy.

For one (binary) output the decision is "score >= decision threshold": v_th for the voltage
readouts, half a spike for spike_count, "fired at all" for first_spike.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lif.errors import require
from lif.exact.smooth_max import smooth_max

VOLTAGE_READOUTS = ("max", "mean", "last", "smooth_max")
SPIKE_READOUTS = ("spike_count", "first_spike")
READOUTS = VOLTAGE_READOUTS + SPIKE_READOUTS


def check_readout(readout: str, spiking_output: bool) -> None:
    require(readout in READOUTS, "readout", " | ".join(READOUTS), readout)
    require(
        spiking_output or readout not in SPIKE_READOUTS,
        "readout",
        f"a voltage readout ({', '.join(VOLTAGE_READOUTS)}): the output layer does not spike "
        "(model.output=spiking gives it the hidden layers' neuron)",
        readout,
    )


def read_out(readout: str, voltages: Tensor, spikes: Tensor | None, dt: float, smooth_max_beta: float = 10.0) -> Tensor:
    """The score [B, O] of output voltages [B, L, O] and spikes [B, L, O] (None for a non-spiking layer)."""
    if readout == "max":
        return voltages.max(dim=1).values
    if readout == "mean":
        return voltages.mean(dim=1)
    if readout == "last":
        return voltages[:, -1]
    if readout == "smooth_max":
        return smooth_max(voltages, smooth_max_beta, dim=1)
    if readout == "spike_count":
        return spikes.sum(dim=1)
    if readout == "first_spike":
        return -first_spike_time(spikes, dt)
    raise ValueError(f"unknown readout {readout!r}")


def first_spike_time(spikes: Tensor, dt: float) -> Tensor:
    """t_first [B, O] in ms: dt times the number of steps before the first spike (L dt when there is none)."""
    return torch.cumprod(1 - spikes, dim=1).sum(dim=1) * dt


def decision_threshold(readout: str, v_th: float, num_steps: int, dt: float) -> float:
    """The score at and above which a single (binary) output says "yes"."""
    if readout == "spike_count":
        return 0.5
    if readout == "first_spike":
        return -(num_steps - 0.5) * dt  # fired at all: t_first < L dt
    return v_th
