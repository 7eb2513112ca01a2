"""Writing trials: each call is one short transaction, safe with many concurrent writers."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from lif.tracking.database import connect
from lif.tracking.tables import ARTIFACT_KINDS, STATUSES, Artifact, EpochMetric, Experiment, Trial, now


class TrialStore:
    """The tracking database at ``url`` as the app writes it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)
        self.seconds = 0.0  # time spent in transactions (the tracking overhead of a job)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One short transaction's session, timed."""
        started = time.perf_counter()
        try:
            with Session(self.engine) as session:
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
    ) -> int:
        """Insert a trial with status ``running``; returns its id."""
        trial = Trial(
            experiment_id=self.experiment_id(experiment, description, study_name, study_storage),
            config=dict(config or {}),
            overrides=list(overrides),
            seed=seed,
            job_number=job_number,
            output_dir=output_dir,
            hostname=socket.gethostname(),
            optimized_metric=optimized_metric,
        )
        with self.session() as session:
            session.add(trial)
            session.commit()
            return trial.id

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
