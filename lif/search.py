"""Support for Optuna searches run by hydra-optuna-sweeper (``-m hparams_search=<name>``).

A study lives in persistent storage, and rerunning the same command adds trials to it.
A seeded sampler would then replay its random start-up points; ``${lif.study_seed:...}``
gives the sampler ``seed + number of trials already in the study`` instead, which is
still reproducible (the same storage state gives the same seed) but never repeats a
resumed run's first points. It is registered as a config resolver by :mod:`lif.resolvers`.

The app's searches use ``hydra/sweeper=lif_optuna`` (``hydra_plugins/lif_optuna_sweeper``):
hydra-optuna-sweeper's sweeper that, through :func:`fail_unfinished_trials` and
:func:`all_failed_line`, fails the trials it asked for when the sweep aborts (a bad
search-space key, Ctrl-C) instead of leaving them ``RUNNING``, and ends a sweep whose
trials all failed with one line instead of Optuna's ``Record does not exist``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna

log = logging.getLogger(__name__)


def quiet_optuna_warnings() -> None:
    """Silence warnings that say nothing to a user of this app: hydra-optuna-sweeper 1.3.0
    builds (and studies then store) Optuna's pre-3.0 distribution classes, which warn on
    every read (they go in Optuna 6, which pyproject.toml excludes); Optuna's matplotlib
    plots announce that they are experimental."""
    warnings.filterwarnings("ignore", message=r".*Distribution has been deprecated in v3\.0\.0", category=FutureWarning)
    warnings.filterwarnings("ignore", message=r".*is experimental \(supported from")


def study_seed(seed: int | None, storage: str | None, study_name: str | None) -> int | None:
    """``seed`` plus the number of trials study ``study_name`` already holds in ``storage`` (a URL)."""
    if seed is None or not storage or not study_name or not isinstance(storage, str):
        return seed
    import optuna
    from sqlalchemy.engine import make_url

    url = make_url(storage)
    if url.get_backend_name() == "sqlite" and url.database:  # Optuna does not create the folder
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    summaries = optuna.study.get_all_study_summaries(storage, include_best_trial=False)
    existing = next((summary.n_trials for summary in summaries if summary.study_name == study_name), 0)
    if existing:
        log.info("study %s holds %d trials: sampler seed %d + %d", study_name, existing, seed, existing)
    return int(seed) + existing


def fail_unfinished_trials(trials: Sequence[optuna.trial.Trial]) -> int:
    """Mark FAIL those of ``trials`` (asked for by this sweep) that are still RUNNING in their study.

    A sweep that aborts mid-batch would otherwise leave them RUNNING forever; trials of other
    sweeps sharing the study are not touched. Returns how many were marked.
    """
    from optuna.trial import TrialState

    if not trials:
        return 0
    study = trials[0].study
    running = {frozen.number for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    unfinished = [trial for trial in trials if trial.number in running]
    for trial in unfinished:
        study.tell(trial, state=TrialState.FAIL)
    if unfinished:
        numbers = ", ".join(str(trial.number) for trial in unfinished)
        log.warning("the sweep aborted: Optuna trial(s) %s of study %s marked FAIL", numbers, study.study_name)
    return len(unfinished)


def every_trial_failed(trials: Sequence[optuna.trial.Trial]) -> bool:
    """Whether there are ``trials`` and their study holds each of them as FAIL."""
    from optuna.trial import TrialState

    if not trials:
        return False
    states = {frozen.number: frozen.state for frozen in trials[0].study.get_trials(deepcopy=False)}
    return all(states.get(trial.number) == TrialState.FAIL for trial in trials)


def all_failed_line(count: int, study_name: str, tracking_url: str | None) -> str:
    """The one line a sweep ends with when all its ``count`` trials failed: where to read their errors."""
    from lif.tracking.database import default_url

    url = f" --url {tracking_url}" if tracking_url and tracking_url != default_url() else ""
    return (
        f"lif: all {count} trials of the sweep (Optuna study {study_name!r}) failed; "
        f"their errors are in the tracking database: python -m lif.runs{url} trials"
    )
