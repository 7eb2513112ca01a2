"""Shared fixtures: Hydra configs composed like the app composes them (no command line)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "conf"


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The app's config with ``overrides``, as a job writing into ``output_dir`` would see it."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg.hydra
            cfg.paths.output_dir = str(output_dir)
    return cfg


@pytest.fixture
def make_config(tmp_path):
    """compose(overrides) -> config whose outputs go to a fresh temporary directory."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(list(overrides), tmp_path)

    return make
