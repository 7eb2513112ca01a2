"""Hydra entry point: `python train.py [overrides]`, `python train.py -m [sweeps]`.

Returns the value of `optimized_metric` so that sweepers (Optuna) can optimise it.
"""

import hydra
from omegaconf import DictConfig

from lif.errors import ConfigError


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
