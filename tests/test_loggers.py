"""The loggers of conf/logger, up to what they hand to their library."""

from types import SimpleNamespace

from hydra.utils import instantiate

import lif.resolvers  # noqa: F401  (the config's ${lif.wandb_tags:...}, as train.py registers it)


def test_the_wandb_logger_hands_wandb_init_no_anonymous_setting(make_config, monkeypatch):
    import wandb

    from lif.loggers import WandbLogger

    calls = []
    monkeypatch.setattr(wandb, "init", lambda **arguments: calls.append(arguments) or SimpleNamespace())
    monkeypatch.setattr(wandb, "run", None)
    logger = instantiate(make_config("seed=3").logger.wandb)
    logger.experiment
    assert isinstance(logger, WandbLogger)
    assert "anonymous" not in calls[0]  # wandb warns "the anonymous setting has no effect" on any value
    assert calls[0]["tags"] == ["seed=3"] and calls[0]["project"] == "lif"
    assert WandbLogger(anonymous=True)._wandb_init["anonymous"] == "allow"  # asked for: still passed
