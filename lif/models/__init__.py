"""Models: torch modules over the exact core (:mod:`lif.exact`) and the stepped core (:mod:`lif.stepped`).

- :mod:`lif.models.tempotron`: one layer of non-resetting tempotrons (exact, compiled on the CPU);
- :mod:`lif.models.network`: multi-layer spiking networks with reset, trained through time;
- :mod:`lif.models.readouts`: what a network's output layer reports per output.
"""
