"""Hydra entry point: `python train.py [overrides]`, `python train.py -m [sweeps]`.

Returns the value of `optimized_metric` so that sweepers (Optuna) can optimise it. A bad
input ends the job with one line naming its field (`lif: config error: ...`, exit status 1),
Ctrl-C or SIGTERM with one line saying so (exit status 130 or 143).
"""

import gc
import logging
import sys

import hydra
from omegaconf import DictConfig

import lif.resolvers  # noqa: F401  (registers the config resolvers here, in the main process)
from lif.errors import ConfigError
from lif.search import quiet_optuna_warnings

quiet_optuna_warnings()


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from lif.app import train  # after Hydra parsed the command line: `--help` stays fast
    from lif.job import in_multirun, interrupting_signal

    # The libraries just imported (torch, Lightning, W&B) hold millions of objects for the
    # life of the process: freezing them keeps every later garbage collection, and the
    # interpreter's shutdown, from walking them again (1 s per run otherwise). Only the first
    # job of a multirun freezes: later, the previous job's garbage would be frozen with them.
    if gc.get_freeze_count() == 0:
        gc.freeze()

    try:
        metrics = train(cfg)
    except ConfigError as error:
        if in_multirun():
            # Raised on: the launcher records the job as failed and the other jobs still run.
            logging.getLogger("lif").error("config error: %s", error)
            raise
        raise SystemExit(f"lif: config error: {error}") from None
    except BaseException as error:
        interrupt = interrupting_signal(error)
        if interrupt is None:
            raise
        # The trial is recorded as interrupted; the shell's convention: exit status 128 + the signal.
        print(f"lif: interrupted by {interrupt.name}", file=sys.stderr)
        raise SystemExit(128 + int(interrupt)) from None
    return metrics.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
