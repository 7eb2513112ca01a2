"""hydra-optuna-sweeper 1.3.0's sweep, made to clean up after itself (the logic is in :mod:`lif.search`)."""

import logging
from collections.abc import Sequence
from typing import Any

from hydra_plugins.hydra_optuna_sweeper._impl import OptunaSweeperImpl
from omegaconf import OmegaConf
from optuna.trial import Trial

from lif.search import all_failed_line, every_trial_failed, fail_unfinished_trials

log = logging.getLogger(__name__)


class LifOptunaSweeperImpl(OptunaSweeperImpl):
    """Remembers every trial it asks Optuna for. When the sweep raises (a trial's overrides do not
    compose, Ctrl-C, a lost launcher), those still RUNNING are marked FAIL before the error goes on.
    When every trial of the sweep failed, it ends with :func:`lif.search.all_failed_line` as a
    ``SystemExit`` (status 1) instead of the sweeper's ``ValueError: Record does not exist``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked_trials: list[Trial] = []

    def _configure_trials(self, trials: list[Trial], *args: Any, **kwargs: Any) -> Sequence[Sequence[str]]:
        self.asked_trials.extend(trials)  # first: configuring them can fail too
        return super()._configure_trials(trials, *args, **kwargs)

    def sweep(self, arguments: list[str]) -> None:
        self.asked_trials = []
        try:
            super().sweep(arguments)
        except BaseException:
            try:
                aborted = fail_unfinished_trials(self.asked_trials)
            except Exception as error:  # the study's storage is gone too: the first error is the one to see
                log.warning("could not mark the sweep's unfinished Optuna trials FAIL: %s", error)
                raise
            # Every trial ran and failed: the sweeper then stumbles over the missing best trial.
            if aborted or not every_trial_failed(self.asked_trials):
                raise
        if every_trial_failed(self.asked_trials):
            tracking_url = OmegaConf.select(self.config, "tracking.url", default=None, throw_on_resolution_failure=False)
            study_name = self.asked_trials[0].study.study_name  # Optuna names a study left unnamed
            raise SystemExit(all_failed_line(len(self.asked_trials), study_name, tracking_url))
