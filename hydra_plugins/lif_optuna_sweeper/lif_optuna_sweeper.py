"""The plugin class Hydra instantiates for ``hydra/sweeper=lif_optuna`` (conf/hydra/sweeper/lif_optuna.yaml)."""

from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper


class LifOptunaSweeper(OptunaSweeper):
    """hydra-optuna-sweeper's ``OptunaSweeper`` (same settings) with lif's implementation:
    an aborted sweep leaves none of its trials RUNNING; a sweep whose trials all failed says so."""

    def __init__(self, **settings: Any) -> None:  # what OptunaSweeper.__init__ does, with the subclass
        from ._impl import LifOptunaSweeperImpl

        self.sweeper = LifOptunaSweeperImpl(**settings)
