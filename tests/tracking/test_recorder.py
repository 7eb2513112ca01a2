"""Jobs recorded as trials: the database rows and the W&B runs they leave behind."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from lif.app import train
from lif.tracking import Artifact, EpochMetric, Experiment, Trial, connect
from support import FAST, ROOT, wandb_config, wandb_run_record

NO_EARLY_STOP = ["~callbacks.stop_at_perfect", "~callbacks.early_stopping"]


def rows(url, table, *where):
    with Session(connect(url)) as session:
        return session.exec(select(table).where(*where)).all()


def metric_epochs(url, trial_id):
    """{epoch: set of metric names} of one trial."""
    epochs = {}
    for row in rows(url, EpochMetric, EpochMetric.trial_id == trial_id):
        epochs.setdefault(row.epoch, set()).add(row.name)
    return epochs


def test_two_job_multirun_is_one_experiment_with_two_trials_and_two_wandb_runs(tmp_path):
    from support import run_train

    url = f"sqlite:///{tmp_path}/other.db"  # a URL given on the command line, not the default
    sweep = tmp_path / "sweep"
    result = run_train(
        "-m", "seed=1,2", "trainer.max_epochs=2", f"tracking.url={url}", f"hydra.sweep.dir={sweep}",
        "experiment_description=two seeds", *FAST, *NO_EARLY_STOP,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    (experiment,) = rows(url, Experiment)
    assert experiment.description == "two seeds"
    trials = sorted(rows(url, Trial), key=lambda trial: trial.seed)
    assert [(trial.seed, trial.job_number, trial.status) for trial in trials] == [(1, 0, "completed"), (2, 1, "completed")]
    assert {trial.experiment_id for trial in trials} == {experiment.id}
    for trial in trials:
        assert f"seed={trial.seed}" in trial.overrides
        assert trial.config["seed"] == trial.seed and trial.config["kernel"]["tau_m"] == 15.0
        epochs = metric_epochs(url, trial.id)
        assert set(epochs) == {0, 1}
        for names in epochs.values():
            assert {"train/loss", "train/acc", "train/acc_label_0", "train/acc_label_1", "train/online_loss"} <= names
        kinds = {artifact.kind for artifact in rows(url, Artifact, Artifact.trial_id == trial.id)}
        assert kinds == {"checkpoint", "config", "wandb_run", "plot"}

        (run_dir,) = (Path(trial.output_dir) / "wandb").glob("offline-run-*")
        run = wandb_run_record(run_dir)  # decoded with wandb's own protobuf schema
        assert run.run_id == trial.wandb_run_id
        assert run.run_group == experiment.name
        assert f"seed={trial.seed}" in run.tags
        assert json.loads(wandb_config(run_dir)["seed"]) == trial.seed
    assert len({trial.wandb_run_id for trial in trials}) == 2  # wandb.finish() between the jobs


def test_a_job_that_raises_is_failed_and_the_next_job_still_completes(tmp_path):
    from support import run_train

    url = f"sqlite:///{tmp_path}/lif.db"
    result = run_train(
        "-m", "seed=1,2", "trainer.max_epochs=3", f"tracking.url={url}", f"hydra.sweep.dir={tmp_path}/sweep",
        "+callbacks.fail._target_=support.FailAtEpoch", "+callbacks.fail.epoch=1", "+callbacks.fail.fail_seed=1",
        "+callbacks.fail.seed=${seed}", "logger=none", *FAST, *NO_EARLY_STOP,
    )
    assert result.returncode != 0  # Hydra reports the failed job once the sweep is done
    failed, completed = sorted(rows(url, Trial), key=lambda trial: trial.seed)
    assert failed.status == "failed" and "injected failure at epoch 1" in failed.error
    assert "Traceback" in failed.error and failed.ended_at is not None
    assert set(metric_epochs(url, failed.id)) == {0}
    assert completed.status == "completed" and completed.epochs == 3
    assert set(metric_epochs(url, completed.id)) == {0, 1, 2}


def test_final_and_best_values_and_test_metrics(make_config, tmp_path):
    url = f"sqlite:///{tmp_path}/lif.db"
    cfg = make_config(
        f"tracking.url={url}", "data.num_samples=120", "data.num_afferents=50", "data.val_fraction=0.25",
        "data.test_fraction=0.25", "trainer.max_epochs=4", "optimized_metric=val/acc", "logger=none",
        "trainer.enable_progress_bar=false", *NO_EARLY_STOP,
    )
    metrics = train(cfg)
    (trial,) = rows(url, Trial)
    values = {row.epoch: row.value for row in rows(url, EpochMetric, EpochMetric.name == "val/acc")}
    assert sorted(values) == [0, 1, 2, 3]
    assert trial.status == "completed" and trial.optimized_metric == "val/acc"
    assert trial.final_value == pytest.approx(values[3]) and trial.best_value == pytest.approx(max(values.values()))
    (test_acc,) = rows(url, EpochMetric, EpochMetric.name == "test/acc")
    assert test_acc.epoch == 3 and test_acc.value == pytest.approx(metrics["test/acc"])
    assert {row.name for row in rows(url, EpochMetric, EpochMetric.epoch == 3)} >= {"test/acc_label_0", "test/acc_label_1"}


def test_a_job_with_a_bad_config_is_a_failed_trial_and_writes_nothing_else(make_config, tmp_path):
    from lif.errors import ConfigError

    url = f"sqlite:///{tmp_path}/lif.db"
    with pytest.raises(ConfigError):
        train(make_config(f"tracking.url={url}", "kernel.tau_s=30"))
    (trial,) = rows(url, Trial)
    assert trial.status == "failed" and "kernel.tau_s: expected" in trial.error
    assert trial.config["kernel"]["tau_s"] == 30 and trial.wandb_run_id is None
    assert rows(url, EpochMetric) == [] and rows(url, Artifact) == []
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "wandb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_ctrl_c_leave_the_trial_interrupted(tmp_path, signal_number):
    url = f"sqlite:///{tmp_path}/lif.db"
    job = subprocess.Popen(
        [sys.executable, "train.py", "trainer.max_epochs=100000", f"tracking.url={url}", "logger=none",
         f"hydra.run.dir={tmp_path}/run", *FAST, *NO_EARLY_STOP],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until the job is training and recording
            if (tmp_path / "lif.db").exists() and rows(url, EpochMetric):
                break
            time.sleep(0.2)
        job.send_signal(signal_number)
        _, errors = job.communicate(timeout=120)
    finally:
        if job.poll() is None:  # never leave a training process behind
            job.kill()
            job.wait()
    # one line and the shell's status for a signal (130 for Ctrl-C, 143 for SIGTERM), wherever it
    # arrived (inside numba's compiled code it surfaces wrapped in SystemErrors)
    assert job.returncode == 128 + signal_number, errors
    assert "Traceback" not in errors, errors
    assert errors.strip().splitlines()[-1] == f"lif: interrupted by {signal.Signals(signal_number).name}", errors
    (trial,) = rows(url, Trial)
    assert trial.status == "interrupted" and trial.ended_at is not None, trial.error
    assert ("SIGTERM" if signal_number == signal.SIGTERM else "KeyboardInterrupt") in trial.error
