"""``python -m lif.exact``: compile the CPU kernels into numba's disk cache (``make install`` runs it).

Runs each kernel the app calls once, in float32, on a tiny problem (spike times and rasters,
the maximum and the smooth maximum, forward and backward), so that the machine code lands
on disk and a first ``make train`` trains instead of compiling. (float64, used by tests,
compiles on first use.)
"""

import torch

from lif.exact.compiled import LANES
from lif.exact.grid import spike_counts
from lif.exact.max_voltage import max_voltage
from lif.exact.smooth_max import smooth_max_voltage
from lif.kernels import DoubleExponentialKernel

kernel = DoubleExponentialKernel(tau_m=15.0, tau_s=3.75)
generator = torch.Generator().manual_seed(0)
weights = torch.randn(8, 2, generator=generator, requires_grad=True)
spike_times = torch.rand(LANES + 1, 8, generator=generator) * 20.0
raster = torch.rand(LANES + 1, 20, 8, generator=generator) < 0.1
for inputs in (spike_times, raster):
    v_max, _ = max_voltage(inputs, weights, kernel, dt=1.0, num_steps=20, backend="compiled")
    v_max.sum().backward()
spike_counts(raster, dt=1.0, num_steps=20)
smooth_max_voltage(spike_times, weights, kernel, dt=1.0, num_steps=20, beta=5.0, backend="compiled").sum().backward()
