"""The app's config resolvers, registered in one place.

``train.py`` imports this module in the main process. That matters: Hydra snapshots the
registered resolvers there and restores the snapshot in every launcher worker (joblib,
Ray) before each job, so a resolver registered only inside a job would vanish from a
reused worker. :func:`register` is also called at the start of every job (idempotent).

- ``${lif.wandb_tags:${hydra:overrides.task}}``: a job's overrides as valid W&B tags
- ``${lif.study_seed:seed,storage,study_name}``: the sampler seed of a resumable Optuna study
"""

from __future__ import annotations

from omegaconf import ListConfig, OmegaConf

from lif.search import study_seed

NOT_TAGS = ("hydra.", "tracking.", "paths.", "logger.", "~", "+hydra")
MAX_TAG_LENGTH = 64  # W&B's limit


def wandb_tags(overrides: list[str]) -> list[str]:
    """W&B tags from a job's overrides: the experiment's parameters, at most 64 characters each.

    Overrides of where things go (hydra.*, tracking.*, paths.*, logger.*) are not tags.
    """
    tags = [str(override) for override in overrides if not str(override).lstrip("+").startswith(NOT_TAGS)]
    return [tag if len(tag) <= MAX_TAG_LENGTH else tag[: MAX_TAG_LENGTH - 1] + "…" for tag in tags]


def wandb_tags_node(overrides: list[str]) -> ListConfig:
    """:func:`wandb_tags` as a config node: ``OmegaConf.resolve`` (``train.py --cfg job --resolve``)
    cannot store a plain list returned by a resolver."""
    return ListConfig(wandb_tags(overrides))


def register() -> None:
    OmegaConf.register_new_resolver("lif.wandb_tags", wandb_tags_node, replace=True)
    OmegaConf.register_new_resolver("lif.study_seed", study_seed, replace=True)


register()
