"""Random streams as functions of the job's seed and the epoch.

A run resumed from a checkpoint at epoch e must draw exactly what the uninterrupted run
drew from epoch e on, so nothing random may depend on how many draws came before: each
epoch's batch order comes from a seed derived from (seed, epoch), and each training step's
random numbers (dropout) from one derived from (seed, epoch, batch).
"""

from __future__ import annotations

import numpy as np


def epoch_seed(seed: int, epoch: int, *more: int) -> int:
    """A 32-bit seed for epoch ``epoch`` (and ``more``: the batch) of a job seeded ``seed``
    (NumPy's SeedSequence hashes them, so neighbouring values give unrelated streams)."""
    return int(np.random.SeedSequence([int(seed), int(epoch), *map(int, more)]).generate_state(1)[0])
