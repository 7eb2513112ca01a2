"""The application: build every part from the composed Hydra config, train, summarise.

``train(cfg)`` is what ``train.py`` runs for each job; it returns the final metrics.
Every object comes from ``hydra.utils.instantiate`` on its config group; a bad value
surfaces as one :class:`~lif.errors.ConfigError` naming the field (``kernel.tau_s``).
"""

from __future__ import annotations

import json
import logging
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from lightning.pytorch.callbacks import Checkpoint, ProgressBar
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf, open_dict
from rich.console import Console
from rich.table import Table

from lif import resolvers
from lif.callbacks import SeedEachStep
from lif.checks import check_config, check_monitored_metrics
from lif.errors import ConfigError, one_line
from lif.job import experiment_name, job_context, job_number, job_overrides, optuna_study
from lif.module import Classifier
from lif.tracking import TrialRecorder
from lif.tracking.database import url_errors

log = logging.getLogger(__name__)


@contextmanager
def reported_as(group: str) -> Iterator[None]:
    """Report any error while building config group ``group`` as one ConfigError naming it.

    Our own checks name the field (``kernel.tau_s``); errors of torch, Lightning or Hydra
    name the group and keep their message (``optimizer: ... Invalid learning rate: -1``).
    """
    try:
        yield
    except (ConfigError, InstantiationException, ValueError, TypeError, MisconfigurationException) as error:
        cause: BaseException = error
        while cause.__cause__ is not None and not isinstance(cause, ConfigError):
            cause = cause.__cause__
        if isinstance(cause, ConfigError):
            raise cause.within(group) from None
        raise ConfigError(group, "valid settings", one_line(cause)) from None


def build(cfg: DictConfig, group: str, **kwargs: Any) -> Any:
    """Instantiate config group ``group``; errors become a ConfigError naming ``group.field``."""
    with reported_as(group):
        return hydra.utils.instantiate(cfg[group], **kwargs)


def switched_on(node: DictConfig | None) -> dict[str, DictConfig]:
    """The entries of a mapping of configs (callbacks, loggers) that have a _target_ (an entry
    set to null is switched off)."""
    return {name: entry for name, entry in (node or {}).items() if entry and "_target_" in entry}


def build_each(cfg: DictConfig, group: str) -> list[Any]:
    """Instantiate every switched-on entry of group ``group`` (callbacks, loggers); errors become
    a ConfigError naming the entry's field (``callbacks.early_stopping.mode``)."""
    built = []
    for name, entry in switched_on(cfg.get(group)).items():
        with reported_as(f"{group}.{name}"):
            built.append(hydra.utils.instantiate(entry))
    return built


def start_loggers(cfg: DictConfig, loggers: list[Any], hyperparameters: dict[str, Any]) -> None:
    """Give every configured logger the job's config, which starts it (the W&B run, the CSV
    logger's folder); one that cannot start is a ConfigError naming it (``logger.wandb``) or its
    folder (``logger.csv.save_dir``)."""
    # the configured loggers come first (the tracking database's own, last, needs no start)
    for (name, entry), logger in zip(switched_on(cfg.get("logger")).items(), loggers):
        try:
            logger.log_hyperparams(hyperparameters)
        except OSError as error:
            field = f"logger.{name}.save_dir" if "save_dir" in entry else f"logger.{name}"
            where = entry.save_dir if "save_dir" in entry else name
            raise ConfigError(field, "a folder this job can write to", f"{where} ({one_line(error)})") from None
        except Exception as error:
            expected = "a logger that starts (check its settings and environment variables, e.g. WANDB_MODE)"
            raise ConfigError(f"logger.{name}", expected, one_line(error)) from None


def quiet_lightning() -> None:
    """Silence start-up chatter that says nothing about this app (data loader workers, TPUs)."""
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    logging.getLogger("lightning.pytorch.accelerators.cuda").setLevel(logging.WARNING)


@dataclass
class Parts:
    """Everything a job is built from."""

    datamodule: L.LightningDataModule
    module: Classifier
    trainer: L.Trainer
    recorder: TrialRecorder | None
    data_seconds: float  # generating, encoding and splitting the data


def checkpoint_to_resume(cfg: DictConfig) -> Path | None:
    """The checkpoint ``ckpt_path`` names (``last``: the run folder's ``checkpoints/last.ckpt``), or None."""
    if not cfg.get("ckpt_path"):
        return None
    if str(cfg.ckpt_path) == "last":
        return Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    return Path(str(cfg.ckpt_path))


def build_recorder(cfg: DictConfig) -> TrialRecorder | None:
    """The job's trial in the tracking database (None with ``tracking=none``); a job resumed
    from a checkpoint continues the trial of its folder."""
    if not cfg.get("tracking"):
        return None
    resume_from = checkpoint_to_resume(cfg)
    make_recorder = build(cfg, "tracking", _partial_=True)  # job facts passed as plain Python
    with reported_as("tracking"), url_errors(cfg.tracking.url):
        return make_recorder(
            job_config=OmegaConf.to_container(cfg, resolve=True),
            overrides=job_overrides(),
            seed=cfg.seed,
            job_number=job_number(),
            output_dir=str(cfg.paths.output_dir),
            resume=resume_from is not None and resume_from.is_file(),
            **optuna_study(),
        )


def build_parts(cfg: DictConfig) -> Parts:
    """Instantiate every config group of a job, checking values before any training starts.

    The trial's recorder comes first: a job that fails here (a bad value) is still recorded,
    as a failed trial with the error.
    """
    quiet_lightning()
    with open_dict(cfg):
        cfg.experiment_name = experiment_name(cfg)
    recorder = build_recorder(cfg)
    try:
        return _build_parts(cfg, recorder)
    except BaseException as error:
        if recorder is not None:
            recorder.fail(error)
        raise


def _build_parts(cfg: DictConfig, recorder: TrialRecorder | None) -> Parts:
    resume_from = checkpoint_to_resume(cfg)
    if resume_from is not None and not resume_from.is_file():
        raise ConfigError("ckpt_path", "a checkpoint file to resume from (last: <run folder>/checkpoints/last.ckpt)", str(resume_from))
    check_config(cfg)  # values no single constructor checks: missing, not finite, not numbers, out of range
    build(cfg, "env")  # checks T, dt, v_th and device before anything else is built
    build(cfg, "kernel")
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    log.info("building %s: data=%s model=%s kernel=%s", cfg.task_name, cfg.data._target_, cfg.model._target_, cfg.kernel._target_)
    data_started = time.perf_counter()
    with reported_as("model"):
        reads = getattr(hydra.utils.get_class(cfg.model._target_), "inputs", "spikes")  # spikes, features or both
    # the encoder is built on its own: its errors name encoder.*
    datamodule = build(cfg, "data", encoder=build(cfg, "encoder"), with_features=reads != "spikes")
    datamodule.setup("fit")  # generate and encode now: bad data fails before any output is written
    data_seconds = time.perf_counter() - data_started
    if "neuron" in cfg.model:  # a network's parts, checked here so that errors name their own group
        build(cfg, "surrogate")
        make_neuron = build(cfg, "neuron")
        with reported_as("neuron"):
            make_neuron()  # the group is a factory (one neuron model per layer): build one to check its values
    sizes = {} if reads == "features" else {"num_afferents": datamodule.num_afferents}  # the encoded input's width
    if reads != "spikes":
        sizes["num_features"] = datamodule.num_raw_features  # the raw sample's
    net = build(cfg, "model", **sizes)
    loss = build(cfg, "loss")
    with reported_as("model"):
        loss.check(net.num_outputs)
    with reported_as("loss"):
        loss.check_model(net)
    if datamodule.num_classes > max(2, net.num_outputs):
        raise ConfigError("model.num_outputs", f"one output per class ({datamodule.num_classes} classes)", net.num_outputs)
    module = Classifier(
        net=net,
        loss=loss,
        optimizer=build(cfg, "optimizer"),
        scheduler=build(cfg, "scheduler") if cfg.get("scheduler") else None,
    )
    # Build the optimizer and schedule once now: torch checks their values only when called.
    with reported_as("optimizer"):
        optimizer = module.make_optimizer(params=module.parameters())
    if module.make_scheduler is not None:
        with reported_as("scheduler"):
            module.make_scheduler(optimizer=optimizer)

    callbacks = build_each(cfg, "callbacks")
    check_monitored_metrics(cfg, datamodule, callbacks)
    if not cfg.trainer.get("enable_progress_bar", True):  # "no progress bar" also means not the rich one
        callbacks = [callback for callback in callbacks if not isinstance(callback, ProgressBar)]
    callbacks.append(SeedEachStep(cfg.seed))
    if recorder is not None and recorder.resumed_wandb_run_id and cfg.get("logger") and cfg.logger.get("wandb"):
        with open_dict(cfg):  # the resumed job logs on into its W&B run
            cfg.logger.wandb.id, cfg.logger.wandb.resume = recorder.resumed_wandb_run_id, "allow"
    loggers = build_each(cfg, "logger")
    if recorder is not None:
        callbacks.append(recorder)
        loggers.append(recorder.metrics_logger)
    trainer = build(cfg, "trainer", callbacks=callbacks, logger=loggers or False)
    return Parts(datamodule, module, trainer, recorder, data_seconds)


SUMMARY_FILE = "summary.json"


def train(cfg: DictConfig) -> dict[str, float]:
    """Train one job (a trial) and return its final metrics by name.

    The job's W&B run is always finished and its trial row always ends as completed,
    failed or interrupted (see :mod:`lif.job` and :mod:`lif.tracking.recorder`). A job that
    succeeds leaves ``summary.json`` in its folder: the final metrics and where its time went
    (seconds; what ``scripts/bench_app.py`` reads).
    """
    resolvers.register()  # a launcher worker may have restored a snapshot without them
    timings: dict[str, float] = {}
    with job_context(timings):
        metrics = _train(cfg, timings)
    path = Path(cfg.paths.output_dir) / SUMMARY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"metrics": metrics, "timings": timings}, indent=2) + "\n")
    return metrics


def _train(cfg: DictConfig, timings: dict[str, float]) -> dict[str, float]:
    started = time.perf_counter()
    parts = build_parts(cfg)
    datamodule, module, trainer, recorder = parts.datamodule, parts.module, parts.trainer, parts.recorder
    build_seconds = time.perf_counter() - started
    try:
        # the W&B run config (this starts the W&B run), hparams.yaml
        start_loggers(cfg, trainer.loggers, OmegaConf.to_container(cfg, resolve=True))
        loggers_seconds = time.perf_counter() - started - build_seconds
        fit_started = time.perf_counter()
        resume_from = checkpoint_to_resume(cfg)
        if resume_from is not None:
            log.info("resuming from %s", resume_from)
        trainer.fit(module, datamodule=datamodule, ckpt_path=resume_from)
        fit_seconds = time.perf_counter() - fit_started
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        # before testing: loading the checkpoint to test restores the callbacks' state as it was saved
        metrics.update(tested_checkpoint_metrics(trainer))
        if datamodule.test_dataloader():
            trainer.test(module, datamodule=datamodule, ckpt_path=best_checkpoint(trainer), verbose=False)
            metrics.update({name: float(value) for name, value in trainer.callback_metrics.items() if name.startswith("test/")})
        plots_module = sys.modules.get("lif.plots")  # not imported (matplotlib) unless plots are on
        plots = next((c for c in trainer.callbacks if plots_module and isinstance(c, plots_module.PlotCallback)), None)
        timings.update({
            "epochs": trainer.current_epoch,
            "fit_seconds": fit_seconds,
            "total_seconds": time.perf_counter() - started,
            "train_patterns_per_second": trainer.current_epoch * len(datamodule.splits["train"]) / fit_seconds,
            "build_seconds": build_seconds,
            "data_seconds": parts.data_seconds,
            "loggers_seconds": loggers_seconds,
            "plots_seconds": plots.seconds if plots else 0.0,
            "database_seconds": recorder.store.seconds if recorder else 0.0,
        })
        print_summary(cfg, metrics, timings, parts)
    except BaseException as error:
        if recorder is not None:
            recorder.fail(error)
        raise
    if recorder is not None:
        recorder.complete()  # only now: everything the job does has succeeded
    return metrics


def best_checkpoint_callback(trainer: L.Trainer) -> Checkpoint | None:
    """The checkpoint callback that saved a best epoch by a monitored metric (None without one)."""
    monitored = [callback for callback in trainer.checkpoint_callbacks if getattr(callback, "monitor", None) and callback.best_model_path]
    return monitored[0] if monitored else None


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The file of the best epoch by the monitored metric (None without such a checkpoint)."""
    callback = best_checkpoint_callback(trainer)
    return callback.best_model_path if callback else None


def tested_checkpoint_metrics(trainer: L.Trainer) -> dict[str, float]:
    """The training and validation metrics of the epoch whose checkpoint the job tests (the app's
    ModelCheckpoint keeps them); none when the last epoch's weights are tested."""
    return {name: value for name, value in getattr(best_checkpoint_callback(trainer), "best_metrics", {}).items() if not name.startswith("test/")}


def print_summary(cfg: DictConfig, metrics: dict[str, float], summary: dict[str, float], parts: Parts) -> None:
    """A rich table: what ran, how long, how well, where the outputs are; also into the job's log."""
    trainer = parts.trainer
    rows = [
        ("epochs", f"{summary['epochs']} (max {trainer.max_epochs})"),
        ("wall time", f"{summary['fit_seconds']:.2f} s fit, {summary['total_seconds']:.2f} s in train()"),
        (
            "time",
            f"build {summary['build_seconds']:.2f} s (data {summary['data_seconds']:.2f} s), "
            f"loggers {summary['loggers_seconds']:.2f} s, fit {summary['fit_seconds']:.2f} s "
            f"(plots {summary['plots_seconds']:.2f} s, database {summary['database_seconds']:.2f} s)",
        ),
        ("throughput", f"{summary['train_patterns_per_second']:,.0f} training patterns/s"),
    ]
    for name in sorted(metrics):
        if name.endswith(("/acc", "/loss")):
            value = metrics[name]
            shown = f"{value:.2%}" if name.endswith("/acc") else f"{value:.4g}"
            rows.append((f"{name} (optimised)" if name == cfg.optimized_metric else name, shown))
    rows.append(("outputs", str(cfg.paths.output_dir)))
    if best_checkpoint(trainer):
        tested = " (tested; the train/ and val/ figures above are its epoch's)" if tested_checkpoint_metrics(trainer) else ""
        rows.append(("best checkpoint", best_checkpoint(trainer) + tested))
    if parts.recorder is not None:
        rows.append(("tracking", f"trial {parts.recorder.trial_id} of experiment {cfg.experiment_name!r} in {cfg.tracking.url}"))
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and logger.version:
            run_dir = Path(logger.experiment.dir).parent
            rows.append(("W&B run", f"{logger.version} ({logger.experiment.settings.mode}); upload: wandb sync {run_dir}"))

    table = Table(title=f"lif · {cfg.task_name}", show_header=False, title_justify="left")
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column(overflow="fold")
    for name, value in rows:
        table.add_row(name, value)
    log.info("finished: %s", "; ".join(f"{name} {value}" for name, value in rows))
    Console().print(table)
