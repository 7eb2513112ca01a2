"""The same command line against a real PostgreSQL server (the database a team shares)."""

from sqlmodel import Session, select

from lif.runs import main as runs_main
from lif.tracking import EpochMetric, Trial, connect
from support import FAST, run_train


def test_a_job_tracked_in_postgresql_and_listed_from_it(postgres_url, tmp_path, capsys):
    result = run_train(
        "trainer.max_epochs=2", f"tracking.url={postgres_url}", "logger=none", "experiment_name=shared-server",
        f"hydra.run.dir={tmp_path}", "~callbacks.stop_at_perfect", "~callbacks.early_stopping", *FAST,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with Session(connect(postgres_url)) as session:
        (trial,) = session.exec(select(Trial)).all()
        epochs = set(session.exec(select(EpochMetric.epoch).where(EpochMetric.trial_id == trial.id)).all())
    assert trial.status == "completed" and epochs == {0, 1}
    assert trial.config["tracking"]["url"] == postgres_url

    assert runs_main(["--url", postgres_url, "trials", "shared-server"]) == 0
    assert "completed" in capsys.readouterr().out
