"""What a Hydra job knows about itself, and the wrapper every job runs inside.

The wrapper (:func:`job_context`) makes W&B offline unless the user chose otherwise,
turns SIGTERM into an exception (so the trial is recorded as interrupted instead of
vanishing; :func:`interrupting_signal` recognises it and Ctrl-C however they surface),
and always finishes the W&B run, so that the next job of a single-process multirun
starts a run of its own.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

# W&B keeps the token of its background service in the environment, so child processes share
# their parent's service. A job started by a process that runs W&B itself (a notebook, a test
# session) would register its run there, and if the job is killed, the parent's service keeps
# the run ID "in use" and its resumption fails. Each job starts its own service instead: the
# token this process inherited is dropped (one the job's own first W&B run set is kept).
INHERITED_WANDB_SERVICE = os.environ.get("WANDB_SERVICE")


def hydra_job() -> DictConfig | None:
    """Hydra's own config of the running job, or None outside a Hydra app."""
    return HydraConfig.get() if HydraConfig.initialized() else None


def in_multirun() -> bool:
    """Whether this job is one of a multirun (``-m``: a grid or a sweep)."""
    hydra = hydra_job()
    return hydra is not None and hydra.mode == RunMode.MULTIRUN


def job_number() -> int | None:
    hydra = hydra_job()
    return OmegaConf.select(hydra, "job.num", default=None) if hydra is not None else None


def job_overrides() -> list[str]:
    """The command-line overrides of this job (``seed=2``, ``kernel.tau_m=10``)."""
    hydra = hydra_job()
    return list(OmegaConf.select(hydra, "overrides.task", default=[]) or []) if hydra is not None else []


def optuna_study() -> dict[str, str | None]:
    """{study_name, study_storage} of the Optuna sweep running this job (both None otherwise)."""
    hydra = hydra_job()
    sweeper = OmegaConf.select(hydra, "sweeper", default=None) if hydra is not None else None
    if sweeper is None or "study_name" not in sweeper:
        return {"study_name": None, "study_storage": None}
    storage = sweeper.get("storage")
    return {"study_name": sweeper.get("study_name"), "study_storage": str(storage) if storage else None}


def experiment_name(cfg: DictConfig) -> str:
    """``experiment_name`` if set, else the experiment group's option, else the sweep (multirun) or task name."""
    if cfg.get("experiment_name"):
        return str(cfg.experiment_name)
    hydra = hydra_job()
    if hydra is not None:
        choice = OmegaConf.select(hydra, "runtime.choices.experiment", default=None)
        if choice:
            return str(choice)
        if in_multirun():
            return f"{cfg.task_name}-{Path(hydra.sweep.dir).name}"
    return str(cfg.task_name)


def finish_wandb(failed: bool) -> float:
    """End the active W&B run, if any (a no-op when W&B was never imported); the seconds it took."""
    wandb = sys.modules.get("wandb")
    if wandb is None or wandb.run is None:
        return 0.0
    started = time.perf_counter()
    wandb.finish(exit_code=1 if failed else 0)
    seconds = time.perf_counter() - started
    log.info("W&B run finished in %.2f s", seconds)
    return seconds


def interrupting_signal(error: BaseException) -> signal.Signals | None:
    """The signal that interrupted the job, when ``error`` is (or was raised from or while
    handling) Ctrl-C's KeyboardInterrupt or SIGTERM's exception: they may surface wrapped, for
    example in a SystemError when the signal arrived inside numba's compiled code, or as the
    ``sys.exit(1)`` Lightning makes of a KeyboardInterrupt. None for any other error."""
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        if isinstance(error, KeyboardInterrupt):
            return signal.SIGINT
        if isinstance(error, SIGTERMException):
            return signal.SIGTERM
        seen.append(error)
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def job_context(timings: dict[str, float] | None = None) -> Iterator[None]:
    """Offline and quiet W&B by default, SIGTERM as an exception, and ``wandb.finish()`` in any case
    (its duration into ``timings["wandb_finish_seconds"]``)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    if INHERITED_WANDB_SERVICE is not None and os.environ.get("WANDB_SERVICE") == INHERITED_WANDB_SERVICE:
        del os.environ["WANDB_SERVICE"]
    os.environ.setdefault("WANDB_SILENT", "true")  # the job's summary table says where the run is
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None

    def interrupt(signum, frame):
        raise SIGTERMException(128 + signum)

    if in_main_thread:
        signal.signal(signal.SIGTERM, interrupt)
    failed = True
    try:
        yield
        failed = False
    finally:
        try:
            seconds = finish_wandb(failed)
            if timings is not None:
                timings["wandb_finish_seconds"] = seconds
        finally:
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
