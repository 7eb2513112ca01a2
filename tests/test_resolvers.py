"""The app's config resolvers, as the command line uses them."""

import subprocess
import sys

from support import ROOT


def test_the_resolved_job_config_prints_with_its_wandb_tags():
    shown = subprocess.run(
        [sys.executable, "train.py", "seed=3", "hydra.run.dir=/tmp/unused", "--cfg", "job", "--resolve"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "    tags:\n    - seed=3\n    job_type: train" in shown.stdout  # hydra.* overrides are not tags
