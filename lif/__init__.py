"""lif: spiking networks of leaky integrate-and-fire neurons, the tempotron first.

Layers, bottom to top: kernels and encoders (pure math), the exact and the stepped cores
(exact voltages; neurons that spike and reset), models and losses (torch modules), data and
module (Lightning), app (train(cfg)).

Importing lif sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is set: torch's OpenMP threads
otherwise spin for a while after every parallel operation, and the compiled kernels' threads
(numba's, another OpenMP runtime) find the cores busy: network training steps ran 2-3x slower
on 2 cores. It takes effect only if lif is imported before torch (``train.py`` does).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
