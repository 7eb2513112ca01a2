"""A Lightning callback that records the job it watches as a trial in the tracking database.

Life of a trial row:
  fit start       -> inserted with status ``running`` (config, overrides, seed, W&B run id)
                     (or straight away as ``failed`` when the job fails while it is being
                     built: a bad config value)
  every epoch     -> one ``epoch_metric`` row per metric Lightning logged that epoch
                     (:class:`EpochMetricLogger` receives exactly those, nothing stale)
  success         -> ``completed`` with the final and best value of the optimised metric
                     and the checkpoint files as artifacts, set by :meth:`TrialRecorder.complete`
                     once everything the job does has finished
  an exception    -> ``failed`` with the error text; Ctrl-C or SIGTERM -> ``interrupted``
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger, WandbLogger

from lif.tracking.store import TrialStore


class TrialRecorder(Callback):
    def __init__(
        self,
        url: str,
        experiment_name: str,
        experiment_description: str = "",
        optimized_metric: str | None = None,
        mode: str = "max",
        job_config: Mapping[str, Any] | None = None,
        overrides: Sequence[str] = (),
        seed: int | None = None,
        job_number: int | None = None,
        output_dir: str | None = None,
        study_name: str | None = None,
        study_storage: str | None = None,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.store = TrialStore(url)
        self.experiment_name = experiment_name
        self.experiment_description = experiment_description or ""
        self.optimized_metric = optimized_metric
        self.mode = mode
        self.job_config = dict(job_config or {})
        self.overrides = list(overrides)
        self.seed = seed
        self.job_number = job_number
        self.output_dir = output_dir
        self.study_name = study_name
        self.study_storage = study_storage
        self.trial_id: int | None = None
        self.finished = False
        self.final_value: float | None = None
        self.best_value: float | None = None
        self.last_epoch = -1
        self.trainer: L.Trainer | None = None
        self.metrics_logger = EpochMetricLogger(self)

    # --- Lightning hooks -------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trainer = trainer
        self.start()
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                run = logger.experiment
                self.store.update_trial(self.trial_id, wandb_run_id=run.id)
                self.store.add_artifact(self.trial_id, "wandb_run", str(Path(run.dir).parent))

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.fail(exception)

    # --- called by the metrics logger and the app ---------------------------------------
    def start(self) -> None:
        """Insert the trial row (status ``running``) with the job's config; once per job."""
        if self.trial_id is not None:
            return
        self.trial_id = self.store.start_trial(
            self.experiment_name,
            self.experiment_description,
            study_name=self.study_name,
            study_storage=self.study_storage,
            config=self.job_config,
            overrides=self.overrides,
            seed=self.seed,
            job_number=self.job_number,
            output_dir=self.output_dir,
            optimized_metric=self.optimized_metric,
        )
        if self.output_dir and (Path(self.output_dir) / ".hydra" / "config.yaml").is_file():
            self.store.add_artifact(self.trial_id, "config", str(Path(self.output_dir) / ".hydra" / "config.yaml"))

    def record(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Store one epoch's metrics; test metrics after fit belong to the last epoch trained."""
        if self.trial_id is None or self.finished:
            return
        if self.trainer is not None and self.trainer.testing:
            epoch = max(self.last_epoch, 0)
        self.last_epoch = max(self.last_epoch, epoch)
        self.store.add_metrics(self.trial_id, epoch, metrics)
        value = metrics.get(self.optimized_metric) if self.optimized_metric else None
        if value is not None:
            self.final_value = float(value)
            better = max if self.mode == "max" else min
            self.best_value = self.final_value if self.best_value is None else better(self.best_value, self.final_value)

    def add_artifact(self, kind: str, path: str) -> None:
        """Record a file the trial produced (a plot, say); ignored before the trial exists."""
        if self.trial_id is not None and not self.finished:
            self.store.add_artifact(self.trial_id, kind, path)

    def complete(self) -> None:
        """Mark the trial completed, with its results and checkpoint files."""
        if self.trial_id is None or self.finished:
            return
        checkpoints = set()
        for callback in self.trainer.checkpoint_callbacks if self.trainer else []:
            checkpoints |= {path for path in (callback.best_model_path, callback.last_model_path) if path}
        for path in sorted(checkpoints):
            self.store.add_artifact(self.trial_id, "checkpoint", path)
        self.store.finish_trial(
            self.trial_id,
            "completed",
            final_value=self.final_value,
            best_value=self.best_value,
            epochs=self.trainer.current_epoch if self.trainer else None,
        )
        self.finished = True

    def fail(self, exception: BaseException) -> None:
        """Mark the trial failed (or interrupted, for Ctrl-C and SIGTERM) with the error text.

        A job that fails before training starts (a bad config value, say) still leaves its
        trial, failed: every job of a sweep is a row.
        """
        if self.finished:
            return
        self.start()
        # The interrupt may surface wrapped (a signal handled inside a C callback, say numba's):
        # anywhere in the chain counts.
        interrupted = any(isinstance(error, (KeyboardInterrupt, SystemExit)) for error in exception_chain(exception))
        text = "".join(traceback.format_exception(exception)).strip()
        self.store.finish_trial(
            self.trial_id,
            "interrupted" if interrupted else "failed",
            error=text,
            final_value=self.final_value,
            best_value=self.best_value,
            epochs=self.trainer.current_epoch if self.trainer else None,
        )
        self.finished = True


def exception_chain(exception: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from or during (__cause__, __context__)."""
    chain: list[BaseException] = []
    while exception is not None and exception not in chain:
        chain.append(exception)
        exception = exception.__cause__ or exception.__context__
    return chain


class EpochMetricLogger(Logger):
    """Hands the metrics Lightning logs at each epoch's end to its :class:`TrialRecorder`."""

    def __init__(self, recorder: TrialRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    @property
    def name(self) -> str:
        return "tracking"

    @property
    def version(self) -> int | None:
        return self.recorder.trial_id

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        """The trial row already holds the whole resolved config."""

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        values = {name: value for name, value in metrics.items() if name != "epoch"}
        self.recorder.record(int(metrics.get("epoch", 0)), values)
