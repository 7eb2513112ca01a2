"""``python -m lif.stepped``: compile the stepped core's CPU kernels into numba's disk cache (``make install`` runs it).

Runs each neuron model's compiled scan forward and backward (also recurrent), the leaky
integrators' filter, the projections of spike rasters and of input events, and the one pass of
a layer and leaky integrators on a raster once in float32
on a tiny problem, so that a first ``make train`` trains instead of compiling.
"""

import torch

from lif.kernels import DoubleExponentialKernel
from lif.stepped.fused import LayerAndReadout
from lif.stepped.alif import ALIF
from lif.stepped.cuba import CUBA
from lif.stepped.lif import LIF
from lif.stepped.layer import compiled_constants, filter_constants, filter_layer, run_layer
from lif.stepped.projection import EventDrivenProjection, project_events

generator = torch.Generator().manual_seed(0)
current = torch.rand(2, 5, 3, generator=generator, requires_grad=True)
for neuron in (LIF(), CUBA(), ALIF()):
    direct = torch.zeros(2, 5, 3, requires_grad=True) if isinstance(neuron, CUBA) else None
    spikes, voltages = run_layer(neuron, current, direct)
    (spikes.sum() + voltages.sum()).backward()
recurrent = torch.randn(3, 3, requires_grad=True)
spikes, voltages = run_layer(LIF(), current, None, recurrent)
(spikes.sum() + voltages.sum()).backward()
weight = torch.randn(3, 4, requires_grad=True)
for inputs in (torch.rand(6, 3, generator=generator) < 0.5, (torch.rand(6, 3, generator=generator) < 0.5).float().requires_grad_()):
    EventDrivenProjection.apply(inputs, weight).sum().backward()
filter_layer(current, DoubleExponentialKernel(), dt=1.0).sum().backward()
step = torch.randint(0, 5, (2, 3, 1), generator=generator)
project_events(step, torch.rand(2, 3, 1, generator=generator, requires_grad=True), weight, 5).sum().backward()
raster = torch.rand(2, 5, 3, generator=generator) < 0.3
readout_args = (compiled_constants(LIF(), current, None), *filter_constants(DoubleExponentialKernel(), 1.0, torch.float32))
for word_scan in (True, False):
    _, counts, output_voltages, peaks = LayerAndReadout.apply(raster, weight, torch.randn(4, 2, requires_grad=True),
                                                              *readout_args, word_scan)
    (counts.sum() + output_voltages.sum() + peaks.sum()).backward()
