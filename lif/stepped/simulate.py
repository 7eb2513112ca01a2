"""Run a layer of neurons over the time grid: the sequential part of a network.

Given the feed-forward input currents of every step (projected all at once, before the loop:
:mod:`lif.models.network`), the loop only adds the recurrent input and steps the neurons:

    input[k] = current[k] + s[k-1] @ W_rec        (W_rec [N, N]: within-layer weights, optional)
    s[k], u[k], state = step(input[k], state)

Backpropagation through time is autograd through this loop. Returns the spikes [B, L, N]
and the membrane V[k] = v_rest + u[k] before the reset [B, L, N].
"""

from __future__ import annotations

import torch
from torch import Tensor

from lif.stepped.neuron import Neuron


def simulate(
    neuron: Neuron, current: Tensor, direct: Tensor | None = None, recurrent_weight: Tensor | None = None
) -> tuple[Tensor | None, Tensor]:
    """(spikes [B, L, N] or None for a non-spiking neuron, voltages [B, L, N]) for currents [B, L, N]."""
    dynamics = neuron.dynamics()
    state = neuron.initial_state(current[:, 0])
    # One unbind, not a slice per step: the backward of each slice would build a whole [B, L, N] gradient.
    currents = current.unbind(dim=1)
    directs = direct.unbind(dim=1) if direct is not None else [None] * len(currents)
    spikes_per_step, voltage_per_step = [], []
    spikes = None
    for step_current, step_direct in zip(currents, directs):
        if recurrent_weight is not None and spikes is not None:
            step_current = step_current + spikes @ recurrent_weight
        spikes, u, state = neuron.step(step_current, state, dynamics, step_direct)
        spikes_per_step.append(spikes)
        voltage_per_step.append(u)
    voltages = torch.stack(voltage_per_step, dim=1)
    if neuron.v_rest:
        voltages = voltages + neuron.v_rest
    return (torch.stack(spikes_per_step, dim=1) if neuron.spiking else None), voltages
