"""`python train.py` as a researcher runs it (subprocesses, Hydra command line)."""

import csv

import pytest

from support import FAST, run_train

# These tests read the CSV logger's file and keep the tracking database out of the way.
FAST = [*FAST, "logger=csv", "tracking=none"]


def final_train_accuracy(metrics_csv):
    with open(metrics_csv) as handle:
        rows = [row for row in csv.DictReader(handle) if row["train/acc"]]
    return float(rows[-1]["train/acc"])


def test_one_epoch_writes_its_outputs(tmp_path):
    result = run_train("trainer.max_epochs=1", f"hydra.run.dir={tmp_path}", *FAST)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    correct = final_train_accuracy(tmp_path / "csv" / "metrics.csv") * 40  # data.num_samples=40, all training
    assert abs(correct - round(correct)) < 1e-4 and 0 <= round(correct) <= 40
    assert "train/acc" in result.stdout  # the summary table


def test_multirun_runs_every_job(tmp_path):
    result = run_train("-m", "seed=1,2", "trainer.max_epochs=1", f"hydra.sweep.dir={tmp_path}", *FAST)
    assert result.returncode == 0, result.stderr
    for job in ("0", "1"):
        assert (tmp_path / job / "csv" / "metrics.csv").is_file()
    assert (tmp_path / "0" / ".hydra" / "overrides.yaml").read_text().count("seed=1") == 1


@pytest.mark.parametrize(
    "override, field",
    [("kernel.tau_s=20", "kernel.tau_s"), ("env.dt=0", "env.dt"), ("data.val_fraction=1.5", "data.val_fraction")],
)
def test_bad_config_is_one_clear_line_and_a_failure(tmp_path, override, field):
    result = run_train(override, f"hydra.run.dir={tmp_path}")
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"lif: config error: {field}: expected")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.slow
def test_default_load_one_is_learned_perfectly(tmp_path):
    # alpha = 1: 500 afferents, 500 patterns, T = 500 ms, dt = 1 ms (the defaults)
    result = run_train("data.num_samples=500", f"hydra.run.dir={tmp_path}", "trainer.enable_progress_bar=false", "logger=csv", "tracking=none")
    assert result.returncode == 0, result.stderr
    assert final_train_accuracy(tmp_path / "csv" / "metrics.csv") == 1.0
