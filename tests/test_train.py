"""`python train.py` as a researcher runs it (subprocesses, Hydra command line)."""

import csv
import json
import signal
import subprocess
import sys
import time

import pytest
import torch
from sqlmodel import Session, select

from lif.tracking import EpochMetric, Trial, connect
from support import FAST, ROOT, run_train

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


def test_last_checkpoint_is_the_final_epoch_when_the_best_came_earlier(tmp_path):
    # the monitored "best" is the largest training loss: the first epoch's, as the loss falls
    result = run_train(
        "trainer.max_epochs=3", "optimized_metric=train/loss", "callbacks.stop_at_perfect=null",
        f"hydra.run.dir={tmp_path}", *FAST,
    )
    assert result.returncode == 0, result.stderr
    checkpoints = tmp_path / "checkpoints"
    assert sorted(path.name for path in checkpoints.iterdir()) == ["best-epoch000.ckpt", "last.ckpt"]
    assert torch.load(checkpoints / "last.ckpt", weights_only=False)["epoch"] == 2
    assert torch.load(checkpoints / "best-epoch000.ckpt", weights_only=False)["epoch"] == 0


def test_the_summary_reports_the_validation_metrics_of_the_tested_checkpoint(tmp_path):
    # the monitored "best" is the largest validation loss: an early epoch's, as the loss falls
    result = run_train(
        "experiment=digits", "trainer.max_epochs=4", "callbacks.early_stopping=null", "callbacks.plots=null",
        "optimized_metric=val/loss", "callbacks.model_checkpoint.mode=max", f"hydra.run.dir={tmp_path}",
        "trainer.enable_progress_bar=false", "logger=csv", "tracking=none",
    )
    assert result.returncode == 0, result.stderr
    (best,) = (tmp_path / "checkpoints").glob("best-*.ckpt")
    best_epoch = torch.load(best, weights_only=False)["epoch"]
    with open(tmp_path / "csv" / "metrics.csv") as handle:
        logged = {int(row["epoch"]): row for row in csv.DictReader(handle) if row["val/loss"]}
    assert best_epoch < max(logged)  # otherwise the tested epoch would be the last one anyway
    summary = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    for name in ("val/loss", "val/acc", "train/acc"):
        assert summary[name] == pytest.approx(float(logged[best_epoch][name]), rel=1e-6), name
    assert summary["val/loss"] != pytest.approx(float(logged[max(logged)]["val/loss"]), rel=1e-6)


@pytest.mark.slow
def test_a_killed_job_is_crashed_and_resumed_to_the_uninterrupted_result(tmp_path):
    """SIGKILL mid-fit: the trial turns crashed after its grace period; `ckpt_path=last` in the
    same folder continues it (the same trial, the same W&B run) to exactly the metrics of a
    run that was never interrupted (digits_network: batch order, dropout and schedule)."""
    url = f"sqlite:///{tmp_path}/lif.db"
    job = ["experiment=digits_network", "trainer.max_epochs=4", "callbacks.plots=null", f"tracking.url={url}",
           "tracking.heartbeat_interval=0.5", "tracking.grace_period=2", "trainer.enable_progress_bar=false"]
    uninterrupted = run_train(*job, f"hydra.run.dir={tmp_path}/whole")
    assert uninterrupted.returncode == 0, uninterrupted.stderr

    killed = subprocess.Popen([sys.executable, "train.py", *job, f"hydra.run.dir={tmp_path}/run"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    try:
        deadline = time.monotonic() + 300
        while not last.exists() and killed.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        killed.kill()
        killed.wait()
    assert killed.returncode == -signal.SIGKILL
    assert torch.load(last, weights_only=False)["epoch"] < 3  # killed before the end
    time.sleep(2.5)  # past the grace period
    listing = subprocess.run([sys.executable, "-m", "lif.runs", "--url", url, "trials"], cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    with Session(connect(url)) as session:
        (crashed,) = session.exec(select(Trial).where(Trial.output_dir == str(tmp_path / "run"))).all()
    assert "crashed" in listing.stdout and crashed.status == "crashed" and crashed.ended_at is not None

    resumed = run_train(*job, f"hydra.run.dir={tmp_path}/run", "ckpt_path=last")
    assert resumed.returncode == 0, resumed.stderr
    whole, after_resume = (json.loads((tmp_path / run / "summary.json").read_text()) for run in ("whole", "run"))
    assert after_resume["timings"]["epochs"] == whole["timings"]["epochs"] == 4
    wall_time = "train/seconds_per_epoch"  # a measurement of the machine, not of the model
    assert wall_time in whole["metrics"] and wall_time in after_resume["metrics"]
    whole["metrics"].pop(wall_time), after_resume["metrics"].pop(wall_time)
    assert after_resume["metrics"] == whole["metrics"]  # every other metric, bit for bit
    with Session(connect(url)) as session:
        (trial,) = session.exec(select(Trial).where(Trial.output_dir == str(tmp_path / "run"))).all()
        metrics = session.exec(select(EpochMetric).where(EpochMetric.trial_id == trial.id, EpochMetric.name == "val/acc")).all()
    assert trial.id == crashed.id and trial.status == "completed" and trial.error is None
    assert sorted(row.epoch for row in metrics) == [0, 1, 2, 3]  # the killed run's extra rows dropped
    runs = sorted((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and {run.name.rsplit("-", 1)[1] for run in runs} == {trial.wandb_run_id}
