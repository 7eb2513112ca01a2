"""``python -m lif.exact``: compile the CPU kernels into numba's disk cache (``make install`` runs it)."""

from lif.exact.max_voltage import compile_all

compile_all()
