"""The tracking database's tables (SQLModel). Table and column names are part of the
product: outside tools query them.

experiment    one per Hydra multirun (or named experiment); ``name`` is unique
trial         one per job: its config, overrides, seed, status and results; a running job
              stamps ``heartbeat_at``, and one silent for ``grace_period`` seconds is ``crashed``
epoch_metric  one row per metric per epoch (per-label accuracies as ``<split>/acc_label_<label>``)
artifact      files a trial produced: ``checkpoint``, ``plot``, ``config``, ``wandb_run``
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

STATUSES = ("running", "completed", "failed", "interrupted", "crashed")
ARTIFACT_KINDS = ("checkpoint", "plot", "config", "wandb_run")


def now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(timezone.utc)


class Experiment(SQLModel, table=True):
    __tablename__ = "experiment"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    study_name: str | None = None  # the Optuna study of a hyperparameter search
    study_storage: str | None = None  # where that study lives (password hidden)
    created_at: datetime = Field(default_factory=now)
    updated_at: datetime = Field(default_factory=now)


class Trial(SQLModel, table=True):
    __tablename__ = "trial"

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    job_number: int | None = None  # Hydra's job number inside its multirun
    overrides: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    seed: int | None = None
    config: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="running", index=True)  # one of STATUSES
    error: str | None = Field(default=None, sa_column=Column(Text))
    started_at: datetime = Field(default_factory=now)
    ended_at: datetime | None = None
    heartbeat_at: datetime | None = None  # the running job's last sign of life
    grace_period: float | None = None  # seconds without a heartbeat after which it counts as crashed
    output_dir: str | None = None
    hostname: str | None = None
    wandb_run_id: str | None = None
    optimized_metric: str | None = None  # the metric's name, e.g. train/acc
    final_value: float | None = None  # its value at the end
    best_value: float | None = None  # its best value over the epochs
    epochs: int | None = None  # epochs trained


class EpochMetric(SQLModel, table=True):
    __tablename__ = "epoch_metric"

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    epoch: int
    name: str = Field(index=True)
    value: float


class Artifact(SQLModel, table=True):
    __tablename__ = "artifact"

    id: int | None = Field(default=None, primary_key=True)
    trial_id: int = Field(foreign_key="trial.id", index=True)
    kind: str  # one of ARTIFACT_KINDS
    path: str
    created_at: datetime = Field(default_factory=now)
