"""Lightning callbacks of the app (the rest come from Lightning itself)."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import callbacks as lightning_callbacks
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


class ModelCheckpoint(lightning_callbacks.ModelCheckpoint):
    """Lightning's ModelCheckpoint that also keeps ``best_metrics``: the metrics as they stood when
    it saved its best checkpoint (that epoch's evaluation of the training and validation splits).
    The job tests that checkpoint, so it reports these next to the test metrics, not the last
    epoch's. They are part of the checkpoint's state (written into the best checkpoint itself),
    so a resumed run, or a test that loads the checkpoint, reports what the uninterrupted run did."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.best_metrics: dict[str, float] = {}
        self._metrics_of = ""  # the checkpoint file best_metrics belong to
        self._trainer = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        self._trainer = trainer

    def _keep_metrics_of_a_new_best(self) -> None:
        # called while the new best is being saved (state_dict) and right after (the hooks):
        # the trainer's metrics are still that epoch's
        if self.best_model_path != self._metrics_of and self._trainer is not None:
            self.best_metrics = {name: float(value) for name, value in self._trainer.callback_metrics.items()}
            self._metrics_of = self.best_model_path

    # the three hooks in which Lightning's ModelCheckpoint may save
    def on_train_batch_end(self, trainer, pl_module, *args: Any, **kwargs: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args, **kwargs)
        self._keep_metrics_of_a_new_best()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._keep_metrics_of_a_new_best()

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        self._keep_metrics_of_a_new_best()

    def state_dict(self) -> dict[str, Any]:
        self._keep_metrics_of_a_new_best()
        return {**super().state_dict(), "best_metrics": dict(self.best_metrics)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self.best_metrics = dict(state_dict.get("best_metrics", {}))
        self._metrics_of = self.best_model_path
