"""Hydra entry point: `python train.py [overrides]`, `python train.py -m [sweeps]`.

Returns the value of `optimized_metric` so that sweepers (Optuna) can optimise it.
"""

import warnings

import hydra
from omegaconf import DictConfig

import lif.resolvers  # noqa: F401  (registers the config resolvers here, in the main process)
from lif.errors import ConfigError

# hydra-optuna-sweeper 1.3.0 builds Optuna's pre-3.0 distribution classes, which warn on
# every trial (they go in Optuna 6, which pyproject.toml excludes).
warnings.filterwarnings("ignore", message=r".*Distribution has been deprecated in v3\.0\.0", category=FutureWarning)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from lif.app import train  # after Hydra parsed the command line: `--help` stays fast

    try:
        metrics = train(cfg)
    except ConfigError as error:
        raise SystemExit(f"lif: config error: {error}") from None
    return metrics.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
