"""scripts/readout_sweep.py on a tiny grid: the table and the figure, checked against the database."""

import csv
import statistics
import subprocess
import sys

import pytest
from sqlmodel import Session, select

from lif.tracking import EpochMetric, Experiment, Trial, connect
from support import ROOT


@pytest.mark.slow
def test_a_tiny_beta_and_tau_sweep_from_tracked_trials(tmp_path):
    url = f"sqlite:///{tmp_path}/lif.db"
    figure = tmp_path / "sweep.png"
    result = subprocess.run(
        [sys.executable, "scripts/readout_sweep.py", "run", "--betas", "1,30", "--tau-ms", "10,40", "--seeds", "1,2",
         "--url", url, "--output", str(figure), "--", "trainer.max_epochs=2", "logger=none", "callbacks.plots=null",
         "env.T=100", f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert figure.stat().st_size > 10_000
    with open(tmp_path / "sweep.csv") as handle:
        table = {(row["curve"], float(row["value"])): row for row in csv.DictReader(handle)}
    assert set(table) == {("beta", 1.0), ("beta", 30.0), ("tau", 10.0), ("tau", 40.0)}

    # the same numbers, gathered independently from the database
    seen = {}
    with Session(connect(url)) as session:
        for trial, experiment in session.exec(select(Trial, Experiment).where(Trial.experiment_id == Experiment.id)):
            name = experiment.name.removeprefix("odd_even_")
            value = trial.config["model"]["smooth_max_beta"] if name == "beta" else trial.config["kernel"]["tau_m"]
            (accuracy,) = session.exec(
                select(EpochMetric.value).where(EpochMetric.trial_id == trial.id, EpochMetric.name == "test/acc")
            ).all()
            seen.setdefault((name, value), []).append(accuracy)
    assert set(seen) == set(table)
    for key, accuracies in seen.items():
        assert int(table[key]["runs"]) == len(accuracies) == 2
        assert float(table[key]["mean_test_acc"]) == pytest.approx(statistics.fmean(accuracies))
        assert float(table[key]["sd_test_acc"]) == pytest.approx(statistics.stdev(accuracies))
