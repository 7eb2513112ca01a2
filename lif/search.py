"""Support for Optuna searches run by hydra-optuna-sweeper (``-m hparams_search=<name>``).

A study lives in persistent storage, and rerunning the same command adds trials to it.
A seeded sampler would then replay its random start-up points; ``${lif.study_seed:...}``
gives the sampler ``seed + number of trials already in the study`` instead, which is
still reproducible (the same storage state gives the same seed) but never repeats a
resumed run's first points. It is registered as a config resolver by :mod:`lif.resolvers`.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

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

