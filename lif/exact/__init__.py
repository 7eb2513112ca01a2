"""The exact core: voltages of non-resetting LIF layers, computed projection first, filter second.

- :mod:`lif.exact.grid`: spike times onto the time grid, with exact phase factors;
- :mod:`lif.exact.scan`: projection (scatter-add or one matrix product) and the exact
  exponential filter as a blocked scan (tensor operations, any device);
- :mod:`lif.exact.max_voltage`: the tempotron's maximum voltage with its closed-form gradient;
- :mod:`lif.exact.compiled`: the numba CPU kernels behind it.

Imports point down only: max_voltage -> scan -> grid -> :mod:`lif.kernels`; compiled imports
nothing of the package. Nothing here knows about spiking with reset (:mod:`lif.stepped`).
"""

from lif.exact.grid import GriddedSpikes, grid_spikes, input_rate, is_raster, spike_counts
from lif.exact.max_voltage import max_voltage
from lif.exact.scan import filter_currents, input_currents, mean_voltage, raster_currents, voltage

__all__ = [
    "GriddedSpikes",
    "filter_currents",
    "grid_spikes",
    "input_currents",
    "input_rate",
    "is_raster",
    "max_voltage",
    "mean_voltage",
    "raster_currents",
    "spike_counts",
    "voltage",
]
