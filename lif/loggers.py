"""Loggers named in conf/logger that need more than Lightning's own class.

:class:`WandbLogger` is Lightning's, less one argument: Lightning passes ``anonymous=None``
to ``wandb.init`` unconditionally, and recent wandb releases warn on every run that "the
anonymous setting has no effect" whenever the argument is given at all (it is being
removed, wandb/wandb#10909). The argument goes only when it asks for nothing.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's W&B logger that does not hand ``wandb.init`` an unset ``anonymous``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Lightning keeps wandb.init's arguments here (no public way to leave one out).
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)
