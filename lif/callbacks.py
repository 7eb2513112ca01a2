"""Lightning callbacks of the app (the rest come from Lightning itself)."""

from __future__ import annotations

from lightning.pytorch.callbacks import EarlyStopping


class StopAtPerfectAccuracy(EarlyStopping):
    """Stop training once the monitored accuracy reaches 1: every pattern is right.

    Lightning's EarlyStopping with a stopping threshold (it stops when the metric is
    strictly above it, so the threshold is 1 - 1e-7) and no patience limit. A class of its
    own so that it can sit beside an ordinary EarlyStopping on the same metric.
    """

    def __init__(self, monitor: str = "train/acc", verbose: bool = False) -> None:
        super().__init__(
            monitor=monitor, mode="max", stopping_threshold=1.0 - 1e-7, patience=2**31, verbose=verbose
        )
