"""A Lightning callback that records the job it watches as a trial in the tracking database.

Life of a trial row:
  fit start       -> inserted with status ``running`` (config, overrides, seed, W&B run id)
                     (or straight away as ``failed`` when the job fails while it is being
                     built: a bad config value)
  while running   -> ``heartbeat_at`` stamped every ``heartbeat_interval`` seconds by a
                     background thread; silent for ``grace_period`` seconds -> ``crashed``
                     (stored so by the next writer or ``python -m lif.runs``)
  every epoch     -> one ``epoch_metric`` row per metric Lightning logged that epoch
                     (:class:`EpochMetricLogger` receives exactly those, nothing stale), and
                     the checkpoint files written so far as artifacts
  success         -> ``completed`` with the final and best value of the optimised metric,
                     set by :meth:`TrialRecorder.complete` once everything the job does has finished
  an exception    -> ``failed`` with the error text; Ctrl-C or SIGTERM -> ``interrupted``
  resumed         -> a job resumed from a checkpoint in the same folder (``resume=True``)
                     continues that folder's trial: back to ``running``, the metrics of
                     epochs after the checkpoint dropped, the same W&B run id
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger, WandbLogger

from lif.errors import ConfigError, require
from lif.job import interrupting_signal
from lif.tracking.store import TrialStore

log = logging.getLogger(__name__)


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
        heartbeat_interval: float = 30.0,
        grace_period: float = 120.0,
        resume: bool = False,
    ) -> None:
        if mode not in ("max", "min"):
            raise ConfigError("mode", "max or min", mode)
        require(heartbeat_interval > 0, "heartbeat_interval", "seconds between heartbeats, > 0", heartbeat_interval)
        require(
            grace_period > heartbeat_interval, "grace_period",
            f"seconds without a heartbeat before a trial counts as crashed, > heartbeat_interval = {heartbeat_interval:g}",
            grace_period,
        )
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
        self.grace_period = float(grace_period)
        self.heartbeat = Heartbeat(self.beat, float(heartbeat_interval))
        self.trial_id: int | None = None
        self.started = False
        self.finished = False
        self.final_value: float | None = None
        self.best_value: float | None = None
        self.last_epoch = -1
        self.trainer: L.Trainer | None = None
        self.metrics_logger = EpochMetricLogger(self)
        # resuming: this folder's trial is continued (None if it has none: a new trial)
        resumed = self.store.latest_trial_in(output_dir) if resume and output_dir else None
        self.resumed_trial_id = resumed.id if resumed else None
        self.resumed_wandb_run_id = resumed.wandb_run_id if resumed else None
        self.resumed_epoch: int | None = None  # the first epoch trained after resuming

    # --- Lightning hooks -------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trainer = trainer
        self.start()
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                run = logger.experiment
                self.store.update_trial(self.trial_id, wandb_run_id=run.id)
                self.store.add_artifact(self.trial_id, "wandb_run", str(Path(run.dir).parent))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.resumed_trial_id is not None and self.resumed_epoch is None:
            self.resumed_epoch = trainer.current_epoch
            self.restore_values(self.store.drop_metrics_from(self.trial_id, trainer.current_epoch))
        self.record_checkpoints()  # those the previous epoch wrote (checkpoint callbacks run last)

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.fail(exception)

    # --- called by the metrics logger and the app ---------------------------------------
    def start(self) -> None:
        """Insert the trial row (status ``running``) with the job's config, or reopen the
        resumed one; start the heartbeat. Once per job."""
        if self.started:
            return
        self.started = True
        if self.resumed_trial_id is not None:
            self.trial_id = self.resumed_trial_id
            self.store.reopen_trial(self.trial_id, grace_period=self.grace_period)
            log.info("resuming trial %d", self.trial_id)
            self.heartbeat.start()
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
            grace_period=self.grace_period,
        )
        self.heartbeat.start()
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
            self.update_values(float(value))

    def update_values(self, value: float) -> None:
        """The optimised metric's final and best values, after one more epoch's ``value``."""
        self.final_value = value
        better = max if self.mode == "max" else min
        self.best_value = value if self.best_value is None else better(self.best_value, value)

    def restore_values(self, rows: Sequence[Any]) -> None:
        """Final and best values (and the last epoch) from a resumed trial's remaining metric rows."""
        for row in rows:
            self.last_epoch = max(self.last_epoch, row.epoch)
            if row.name == self.optimized_metric:
                self.update_values(row.value)

    def beat(self) -> None:
        if self.trial_id is not None and not self.finished:
            self.store.heartbeat(self.trial_id)

    def record_checkpoints(self) -> None:
        """The checkpoint files on disk now (the best and the last epoch's) as the trial's artifacts."""
        if self.trial_id is None or self.finished or self.trainer is None:
            return
        paths = set()
        for callback in self.trainer.checkpoint_callbacks:
            paths |= {path for path in (callback.best_model_path, callback.last_model_path) if path and Path(path).is_file()}
        self.store.set_artifacts(self.trial_id, "checkpoint", paths)

    def add_artifact(self, kind: str, path: str) -> None:
        """Record a file the trial produced (a plot, say); ignored before the trial exists."""
        if self.trial_id is not None and not self.finished:
            self.store.add_artifact(self.trial_id, kind, path)

    def complete(self) -> None:
        """Mark the trial completed, with its results and checkpoint files."""
        if self.trial_id is None or self.finished:
            return
        self.record_checkpoints()
        self.heartbeat.stop()
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
        self.heartbeat.stop()
        self.record_checkpoints()
        interrupted = interrupting_signal(exception) is not None  # Ctrl-C or SIGTERM, however wrapped
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


class Heartbeat:
    """Calls ``beat`` every ``interval`` seconds on a daemon thread until stopped (a failing
    beat, say a database briefly out of reach, is logged and the next one tried)."""

    def __init__(self, beat: Callable[[], None], interval: float) -> None:
        self.beat, self.interval = beat, interval
        self.stopped = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self.run, name="lif-heartbeat", daemon=True)
            self.thread.start()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.beat()
            except Exception as error:  # noqa: BLE001 (the job goes on; the next beat may work)
                log.warning("heartbeat not stored: %s", error)

    def stop(self) -> None:
        self.stopped.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()


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
