"""lif's Optuna sweeper for Hydra (``hydra/sweeper=lif_optuna``); see :mod:`lif.search`.

Hydra loads sweepers only from the ``hydra_plugins`` namespace package, hence this folder
next to ``lif/``. Modules whose names start with ``_`` are not imported by Hydra's plugin
scan, so ``_impl`` (which imports Optuna) costs nothing to runs that do not sweep.
"""
