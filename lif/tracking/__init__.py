"""Tracking: every job is a trial in a SQL database (SQLModel) and a W&B run."""

from lif.tracking.database import DEFAULT_URL, connect, connect_read_only, default_url
from lif.tracking.recorder import EpochMetricLogger, TrialRecorder
from lif.tracking.store import TrialStore
from lif.tracking.tables import Artifact, EpochMetric, Experiment, Trial

__all__ = [
    "DEFAULT_URL",
    "Artifact",
    "EpochMetric",
    "EpochMetricLogger",
    "Experiment",
    "Trial",
    "TrialRecorder",
    "TrialStore",
    "connect",
    "connect_read_only",
    "default_url",
]
