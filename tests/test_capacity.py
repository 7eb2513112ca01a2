"""scripts/capacity.py on a tiny grid: the table and the figure, checked against the database."""

import csv
import subprocess
import sys

from sqlmodel import Session, select

from lif.tracking import EpochMetric, Trial, connect
from support import ROOT


def test_a_tiny_capacity_curve_from_tracked_trials(tmp_path):
    url = f"sqlite:///{tmp_path}/lif.db"
    figure = tmp_path / "capacity.png"
    result = subprocess.run(
        [sys.executable, "scripts/capacity.py", "run", "--afferents", "100", "--loads", "0.5,4", "--seeds", "1,2",
         "--url", url, "--output", str(figure), "--", "trainer.max_epochs=60", "logger=none", "data.batch_size=16",
         "optimizer.lr=1e-3", "optimizer.momentum=0.9", "model.init_std=0.05", f"hydra.sweep.dir={tmp_path}/sweep"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert figure.stat().st_size > 10_000
    with open(tmp_path / "capacity.csv") as handle:
        table = {float(row["alpha"]): row for row in csv.DictReader(handle)}
    assert set(table) == {0.5, 4.0}

    # the same numbers, counted independently from the database
    with Session(connect(url)) as session:
        for trial in session.exec(select(Trial)):
            accuracies = session.exec(
                select(EpochMetric.value).where(EpochMetric.trial_id == trial.id, EpochMetric.name == "train/acc")
            ).all()
            table[trial.config["data"]["num_samples"] / 100].setdefault("seen", []).append(max(accuracies) == 1.0)
    for alpha, row in table.items():
        assert int(row["runs"]) == len(row["seen"]) == 2
        assert float(row["fraction_learned"]) == sum(row["seen"]) / 2
    assert float(table[0.5]["fraction_learned"]) == 1.0 and float(table[4.0]["fraction_learned"]) == 0.0
    assert "50 % crossing: alpha = 2.25" in result.stdout
