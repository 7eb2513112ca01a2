"""Writing trials: each call is one short transaction, safe with many concurrent writers."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from lif.signals import deferred_signals
from lif.tracking.database import connect
from lif.tracking.tables import ARTIFACT_KINDS, STATUSES, Artifact, EpochMetric, Experiment, Trial, now


def is_crashed(trial: Trial, at: datetime) -> bool:
    """Whether ``trial`` claims to be running but has been silent for longer than its grace
    period at time ``at`` (trials of older versions, without a grace period, never are)."""
    if trial.status != "running" or trial.grace_period is None:
        return False
    last_sign = trial.heartbeat_at or trial.started_at
    if last_sign.tzinfo is None:  # SQLite keeps no time zone: every time the app writes is UTC
        last_sign = last_sign.replace(tzinfo=timezone.utc)
    return (at - last_sign).total_seconds() > trial.grace_period


def mark_crashed(session: Session, trials: Iterable[Trial], at: datetime) -> list[int]:
    """Store the trials among ``trials`` that are crashed at ``at`` as ``crashed``, ended at
    their last heartbeat; their ids."""
    marked = []
    for trial in trials:
        if is_crashed(trial, at):
            trial.status, trial.ended_at = "crashed", trial.heartbeat_at or trial.started_at
            trial.error = f"no heartbeat for {trial.grace_period:g} s: the job's process ended without a word (killed, or its machine died)"
            session.add(trial)
            marked.append(trial.id)
    session.commit()
    return marked


class TrialStore:
    """The tracking database at ``url`` as the app writes it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)
        self.seconds = 0.0  # time spent in transactions (the tracking overhead of a job)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One short transaction's session, timed, with Ctrl-C and SIGTERM held back until it
        ends (an interrupted transaction would keep SQLite's write lock: see :mod:`lif.signals`)."""
        started = time.perf_counter()
        try:
            with deferred_signals(), Session(self.engine) as session:
                yield session
        finally:
            self.seconds += time.perf_counter() - started

    def experiment_id(
        self, name: str, description: str = "", study_name: str | None = None, study_storage: str | None = None
    ) -> int:
        """The id of experiment ``name``, created if new; given (non-empty) fields replace the old ones."""
        study_storage = make_url(study_storage).render_as_string(hide_password=True) if study_storage else None
        for _attempt in range(5):
            with self.session() as session:
                experiment = session.exec(select(Experiment).where(Experiment.name == name)).first()
                if experiment is None:
                    experiment = Experiment(name=name, description=description or "")
                else:
                    experiment.updated_at = now()
                    if description:
                        experiment.description = description
                if study_name:
                    experiment.study_name, experiment.study_storage = study_name, study_storage
                session.add(experiment)
                try:
                    session.commit()
                except IntegrityError:  # another process created it first: read theirs
                    session.rollback()
                    continue
                return experiment.id
        raise RuntimeError(f"could not create or read experiment {name!r}")

    def start_trial(
        self,
        experiment: str,
        description: str = "",
        *,
        study_name: str | None = None,
        study_storage: str | None = None,
        config: Mapping[str, Any] | None = None,
        overrides: Sequence[str] = (),
        seed: int | None = None,
        job_number: int | None = None,
        output_dir: str | None = None,
        optimized_metric: str | None = None,
        grace_period: float | None = None,
    ) -> int:
        """Insert a trial with status ``running``; returns its id. Running trials silent for
        longer than their grace period are stored as ``crashed`` first."""
        self.mark_crashed()
        trial = Trial(
            experiment_id=self.experiment_id(experiment, description, study_name, study_storage),
            config=dict(config or {}),
            overrides=list(overrides),
            seed=seed,
            job_number=job_number,
            output_dir=output_dir,
            hostname=socket.gethostname(),
            optimized_metric=optimized_metric,
            grace_period=grace_period,
            heartbeat_at=now(),
        )
        with self.session() as session:
            session.add(trial)
            session.commit()
            return trial.id

    def mark_crashed(self) -> list[int]:
        """Store every running trial silent for longer than its grace period as ``crashed``."""
        with self.session() as session:
            return mark_crashed(session, session.exec(select(Trial).where(Trial.status == "running")).all(), now())

    def heartbeat(self, trial_id: int) -> None:
        self.update_trial(trial_id, heartbeat_at=now())

    def latest_trial_in(self, output_dir: str) -> Trial | None:
        """The newest trial whose job wrote to ``output_dir`` (the one a resumed job continues)."""
        with self.session() as session:
            query = select(Trial).where(Trial.output_dir == output_dir).order_by(col(Trial.id).desc())
            return session.exec(query).first()

    def reopen_trial(self, trial_id: int, grace_period: float | None = None) -> None:
        """A resumed job's trial: ``running`` again, its end and error cleared."""
        self.update_trial(
            trial_id, status="running", ended_at=None, error=None, heartbeat_at=now(), grace_period=grace_period
        )

    def drop_metrics_from(self, trial_id: int, epoch: int) -> list[EpochMetric]:
        """Delete the trial's metrics of epochs >= ``epoch`` (written after the checkpoint a
        resumed job starts from); the rows that remain, by epoch."""
        with self.session() as session:
            session.exec(delete(EpochMetric).where(EpochMetric.trial_id == trial_id, EpochMetric.epoch >= epoch))
            session.commit()
            query = select(EpochMetric).where(EpochMetric.trial_id == trial_id).order_by(EpochMetric.epoch, EpochMetric.id)
            return list(session.exec(query).all())

    def set_artifacts(self, trial_id: int, kind: str, paths: Iterable[str]) -> None:
        """Make the trial's artifacts of ``kind`` exactly ``paths`` (a checkpoint replaced by a
        better one is gone from disk and from the table)."""
        paths = {str(path) for path in paths}
        with self.session() as session:
            rows = session.exec(select(Artifact).where(Artifact.trial_id == trial_id, Artifact.kind == kind)).all()
            for row in rows:
                if row.path not in paths:
                    session.delete(row)
            session.add_all(Artifact(trial_id=trial_id, kind=kind, path=path) for path in sorted(paths - {row.path for row in rows}))
            session.commit()

    def update_trial(self, trial_id: int, **fields: Any) -> None:
        with self.session() as session:
            trial = session.get(Trial, trial_id)
            for name, value in fields.items():
                setattr(trial, name, value)
            session.add(trial)
            session.commit()

    def add_metrics(self, trial_id: int, epoch: int, metrics: Mapping[str, float]) -> None:
        """One epoch_metric row per finite metric value."""
        rows = [
            EpochMetric(trial_id=trial_id, epoch=epoch, name=name, value=float(value))
            for name, value in metrics.items()
            if math.isfinite(float(value))
        ]
        if rows:
            with self.session() as session:
                session.add_all(rows)
                session.commit()

    def add_artifact(self, trial_id: int, kind: str, path: str) -> None:
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"artifact kind must be one of {ARTIFACT_KINDS}, got {kind!r}")
        with self.session() as session:
            session.add(Artifact(trial_id=trial_id, kind=kind, path=str(path)))
            session.commit()

    def finish_trial(self, trial_id: int, status: str, error: str | None = None, **results: Any) -> None:
        """Set the final status (and results), and the end time."""
        if status not in STATUSES or status == "running":
            raise ValueError(f"final status must be one of {STATUSES[1:]}, got {status!r}")
        self.update_trial(trial_id, status=status, error=error, ended_at=now(), **results)
