"""Spikes, rates and synaptic events per pattern: what a spiking model's output offers the metrics.

Layers are numbered 0 (the input) and 1.. (the model's spiking layers). A layer's *fan-out* is the
number of weights one of its spikes reaches: the width of the layer above, plus the layer's own
width when it is recurrent, 0 for a layer whose spikes leave the model. The *synaptic events* of a
pattern are sum over layers of (spikes of the layer) x (its fan-out): the weight reads, one
accumulate each, that an event-driven implementation of the model makes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from torch import Tensor


class SpikeActivity:
    """Mixin of a model's output. It gives ``neuron_spike_counts()`` ({layer: [B, N] spikes of each
    neuron during the pattern}), ``num_steps`` (L) and ``fan_out`` ({layer: weights one spike reaches},
    None when the model does not say); everything else derives from them here."""

    num_steps: int
    fan_out: Mapping[int, int] | None

    def neuron_spike_counts(self) -> dict[int, Tensor]:
        raise NotImplementedError

    @functools.cached_property
    def _spike_totals(self) -> dict[int, tuple[Tensor, int]]:
        return {layer: (counts.sum(dim=1), counts.shape[1]) for layer, counts in self.neuron_spike_counts().items()}

    def spike_counts(self) -> dict[int, Tensor]:
        """Spikes of each layer per pattern [B], by layer."""
        return {layer: total for layer, (total, _) in self._spike_totals.items()}

    def rates(self) -> dict[int, Tensor]:
        """Spikes per neuron per step of each pattern [B], by layer: the spike count / (N L)."""
        return {layer: total / (size * self.num_steps) for layer, (total, size) in self._spike_totals.items()}

    def synaptic_events(self) -> Tensor | None:
        """Synaptic events of each pattern [B]: sum over layers of spikes x fan-out (None: fan-out unknown)."""
        if self.fan_out is None:
            return None
        return sum(total * self.fan_out[layer] for layer, total in self.spike_counts().items())
