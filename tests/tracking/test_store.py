import multiprocessing
from datetime import datetime, timedelta, timezone

import pytest
from sqlmodel import Session, func, select

from lif.tracking import EpochMetric, Experiment, Trial, TrialStore
from support import write_trials


def test_four_concurrent_writer_processes_lose_no_rows(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"  # new: the writers also race to create the tables
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(4)
    workers = [context.Process(target=write_trials, args=(url, worker, 15, 8, start)) for worker in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]

    with Session(TrialStore(url).engine) as session:
        assert session.exec(select(func.count()).select_from(Experiment)).one() == 1
        assert session.exec(select(func.count()).select_from(Trial).where(Trial.status == "completed")).one() == 60
        assert session.exec(select(func.count()).select_from(EpochMetric)).one() == 4 * 15 * 8 * 2
        per_worker = session.exec(select(Trial.seed, func.count()).group_by(Trial.seed)).all()
    assert sorted(per_worker) == [(0, 15), (1, 15), (2, 15), (3, 15)]


def test_experiment_is_reused_and_its_description_updated(tmp_path):
    store = TrialStore(f"sqlite:///{tmp_path}/lif.db")
    first = store.experiment_id("grid", "first words")
    assert store.experiment_id("grid") == first
    assert store.experiment_id("grid", "better words") == first
    with Session(store.engine) as session:
        assert session.get(Experiment, first).description == "better words"


def test_statuses_and_artifact_kinds_are_checked(tmp_path):
    store = TrialStore(f"sqlite:///{tmp_path}/lif.db")
    trial = store.start_trial("e", seed=3, config={"a": {"b": 1}}, overrides=["a.b=1"])
    with pytest.raises(ValueError, match="final status"):
        store.finish_trial(trial, "done")
    with pytest.raises(ValueError, match="artifact kind"):
        store.add_artifact(trial, "movie", "/tmp/x")
    store.add_metrics(trial, 0, {"train/acc": float("nan"), "train/loss": 0.5})  # NaN is not a measurement
    store.finish_trial(trial, "failed", error="boom")
    with Session(store.engine) as session:
        row = session.get(Trial, trial)
        metrics = session.exec(select(EpochMetric.name)).all()
    assert (row.status, row.error, row.config, row.overrides) == ("failed", "boom", {"a": {"b": 1}}, ["a.b=1"])
    assert row.ended_at is not None and metrics == ["train/loss"]


def test_a_silent_running_trial_is_crashed_after_its_grace_period(tmp_path):
    store = TrialStore(f"sqlite:///{tmp_path}/lif.db")
    silent = store.start_trial("e", grace_period=60.0)
    beating = store.start_trial("e", grace_period=60.0)
    old = store.start_trial("e")  # a trial of an older lif: no grace period, never judged
    an_hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    store.update_trial(silent, heartbeat_at=an_hour_ago)
    store.update_trial(beating, heartbeat_at=datetime.now(timezone.utc) - timedelta(seconds=30))
    store.update_trial(old, started_at=an_hour_ago, heartbeat_at=None)

    store.start_trial("e", grace_period=60.0)  # the next writer stores what it finds crashed
    with Session(store.engine) as session:
        status = {trial.id: trial for trial in session.exec(select(Trial)).all()}
    assert status[silent].status == "crashed" and "no heartbeat for 60 s" in status[silent].error
    assert status[silent].ended_at.replace(tzinfo=None) == an_hour_ago.replace(tzinfo=None)  # its last sign of life
    assert status[beating].status == "running" and status[old].status == "running"
    # a finished trial never becomes crashed, however old its heartbeat
    store.finish_trial(beating, "completed")
    store.update_trial(beating, heartbeat_at=an_hour_ago)
    assert store.mark_crashed() == []


def test_ctrl_c_during_writes_never_leaves_the_database_locked(tmp_path):
    # Without held-back signals, about 1 interrupt in 5 landed inside a transaction and left its
    # connection holding SQLite's write lock: the job's next write (recording the interruption)
    # waited out the busy timeout and failed.
    import os
    import random
    import signal
    import sqlite3
    import threading
    import time

    store = TrialStore(f"sqlite:///{tmp_path}/lif.db")
    trial_id = store.start_trial("interrupted")
    probe = sqlite3.connect(tmp_path / "lif.db", timeout=0.2)
    generator = random.Random(0)
    locked_at = None
    for epoch in range(300):
        delay = generator.uniform(0, 0.004)
        go = threading.Event()
        kick = threading.Thread(target=lambda: (go.wait(), time.sleep(delay), os.kill(os.getpid(), signal.SIGINT)))
        kick.start()
        try:  # the signal comes only after go is set, inside this try (a loaded machine could otherwise
            go.set()  # deliver it while kick.start() waits for the thread, and fail the test outside the store)
            while True:
                store.add_metrics(trial_id, epoch, {"val/acc": 1.0, "val/loss": 0.5})  # rows fetched back
                store.set_artifacts(trial_id, "checkpoint", {f"epoch={epoch}.ckpt"})
                store.update_trial(trial_id, epochs=epoch)
        except KeyboardInterrupt:  # the job records the interruption while it holds the exception
            try:
                probe.execute("BEGIN IMMEDIATE")  # takes the write lock, or fails if another holds it
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:
                locked_at = epoch
        kick.join()
        if locked_at is not None:  # the next writes would wait out the busy timeout
            break
    assert locked_at is None
