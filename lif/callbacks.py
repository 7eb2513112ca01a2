"""Lightning callbacks of the app (the rest come from Lightning itself)."""

from __future__ import annotations

import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping

from lif.seeds import epoch_seed

EPOCHS_TO_PERFECT = "train/epochs_to_perfect"


class StopAtPerfectAccuracy(EarlyStopping):
    """Stop training once the monitored accuracy reaches 1: every pattern is right.

    Lightning's EarlyStopping with a stopping threshold (it stops when the metric is
    strictly above it, so the threshold is 1 - 1e-7) and no patience limit. A class of its
    own so that it can sit beside an ordinary EarlyStopping on the same metric.

    At the end of fit it logs ``train/epochs_to_perfect``, the learning time of the
    memorisation task: the number of epochs it took to reach accuracy 1, or, when that
    never happened, max_epochs * (2 - final accuracy), so that a run that failed ranks
    below every run that succeeded and above runs that got less far. Searches minimise it.
    """

    def __init__(self, monitor: str = "train/acc", verbose: bool = False) -> None:
        super().__init__(
            monitor=monitor, mode="max", stopping_threshold=1.0 - 1e-7, patience=2**31, verbose=verbose
        )

    def on_fit_end(self, trainer, pl_module) -> None:
        accuracy = trainer.callback_metrics.get(self.monitor)
        if accuracy is None:
            return
        accuracy = float(accuracy)
        reached = accuracy > self.stopping_threshold
        value = float(trainer.current_epoch) if reached else trainer.max_epochs * (2.0 - accuracy)
        trainer.callback_metrics[EPOCHS_TO_PERFECT] = torch.tensor(value)
        for logger in trainer.loggers:
            logger.log_metrics({EPOCHS_TO_PERFECT: value, "epoch": max(trainer.current_epoch - 1, 0)}, step=trainer.global_step)


class SeedEachStep(Callback):
    """Reseed torch's random numbers before each training step from (seed, epoch, batch): what
    a step draws (dropout) depends on nothing that happened before it, so a run resumed from a
    checkpoint draws what the uninterrupted run drew (Lightning itself draws from the global
    generator at different points when it resumes, e.g. making the data loader's iterator)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        seed = epoch_seed(self.seed, trainer.current_epoch, batch_idx)
        if pl_module.device.type == "cpu":
            # the CPU's generator alone: torch.manual_seed also seeds every other backend torch knows
            # (CUDA, XPU, MTIA), formatting a stack trace for each: 2.6 ms a step, more than a step itself
            torch.default_generator.manual_seed(seed)
        else:
            torch.manual_seed(seed)
