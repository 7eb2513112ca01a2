"""The read-only runs tool against a database written by the app's own store."""

import csv
import hashlib
import io
import json

import pytest

from lif.runs import differing_parameters, main
from lif.tracking import Trial, TrialStore


@pytest.fixture
def database(tmp_path):
    """Experiment 'grid': three trials over tau_m (one failed), and an older experiment."""
    url = f"sqlite:///{tmp_path}/lif.db"
    store = TrialStore(url)
    store.finish_trial(store.start_trial("older", seed=1), "completed", final_value=0.5, best_value=0.5)
    ids = []
    for tau_m, final in ((10.0, 0.9), (15.0, 1.0), (20.0, None)):
        config = {"seed": 1, "kernel": {"tau_m": tau_m, "tau_s": 3.75}, "paths": {"output_dir": f"/runs/{tau_m}"}}
        trial = store.start_trial(
            "grid", "tau_m sweep", config=config, overrides=[f"kernel.tau_m={tau_m}"], seed=1,
            output_dir=f"/runs/{tau_m}", optimized_metric="train/acc",
        )
        for epoch in range(3):
            store.add_metrics(trial, epoch, {"train/acc": (epoch + 1) / 3 * (final or 0.3), "train/loss": 1.0 / (epoch + 1)})
        if final is None:
            store.finish_trial(trial, "failed", error="RuntimeError: diverged")
        else:
            store.finish_trial(trial, "completed", final_value=final, best_value=final, epochs=3)
        ids.append(trial)
    return url, ids, tmp_path / "lif.db"


def run(capsys, *arguments):
    code = main(["--url", arguments[0], *arguments[1:]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_lists_experiments_and_the_trials_of_one(database, capsys):
    url, ids, _ = database
    code, out, _ = run(capsys, url)
    assert code == 0 and "grid" in out and "older" in out and "tau_m sweep" in out
    code, out, _ = run(capsys, url, "trials", "grid")
    assert code == 0
    assert "kernel.tau_m" in out and "kernel.tau_s" not in out  # only what differs
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert [line.split("│")[4].strip() for line in rows] == ["10", "15", "20"]  # the tau_m column
    assert f"{ids[1]} ★" in out  # the best trial is marked
    assert "failed" in out


def test_show_prints_the_error_of_a_failed_trial(database, capsys):
    url, ids, _ = database
    code, out, _ = run(capsys, url, "show", str(ids[2]))
    assert code == 0 and "RuntimeError: diverged" in out and "kernel.tau_m=20.0" in out


def test_export_csv_and_json_hold_every_epoch(database, capsys, tmp_path):
    url, ids, _ = database
    code, out, _ = run(capsys, url, "export", str(ids[0]))
    table = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [row["epoch"] for row in table] == ["0", "1", "2"]
    assert float(table[2]["train/acc"]) == pytest.approx(0.9) and float(table[1]["train/loss"]) == pytest.approx(0.5)
    target = tmp_path / "metrics.json"
    assert run(capsys, url, "export", str(ids[0]), "--format", "json", "--output", str(target))[0] == 0
    exported = json.loads(target.read_text())
    assert exported["experiment"] == "grid" and len(exported["epochs"]) == 3


def test_never_writes_and_reports_unknown_names(database, capsys):
    url, ids, path = database
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    for arguments in ([], ["trials"], ["trials", "grid"], ["show", str(ids[0])], ["export", str(ids[0])]):
        assert run(capsys, url, *arguments)[0] == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    code, _, err = run(capsys, url, "trials", "nonexistent")
    assert code == 1 and "no experiment named 'nonexistent'" in err
    assert run(capsys, url, "show", "999")[0] == 1


def test_differing_parameters_leave_out_paths_and_mirrors():
    trials = [
        Trial(experiment_id=1, output_dir=f"/o/{i}", config={"seed": i, "data": {"seed": i}, "out": f"/o/{i}/ckpt", "k": 1})
        for i in range(2)
    ]
    assert differing_parameters(trials) == ["seed"]



@pytest.mark.parametrize("kind", ["zero bytes", "another app's", "not SQLite"])
def test_a_database_without_lif_tables_is_one_line(tmp_path, capsys, kind):
    import sqlite3

    path = tmp_path / "lif.db"
    if kind == "zero bytes":
        path.touch()
    elif kind == "another app's":
        with sqlite3.connect(path) as other:
            other.execute("CREATE TABLE notes (text TEXT)")
    else:
        path.write_text("not a database at all\n")
    before = path.read_bytes()
    code, out, err = run(capsys, f"sqlite:///{path}", "trials")
    expected = {
        "zero bytes": f"lif.runs: no lif tracking tables in {path}: run train.py first\n",
        "another app's": f"lif.runs: no lif tracking tables in {path}: run train.py first\n",
        "not SQLite": f"lif.runs: {path} is not a SQLite database (file is not a database)\n",
    }
    assert (code, out, err) == (1, "", expected[kind])
    assert path.read_bytes() == before  # still never writes


def test_compare_pools_the_seeds_of_each_model_into_mean_and_sd(tmp_path, capsys):
    import statistics

    from lif.runs import Runs, compare

    url = f"sqlite:///{tmp_path}/lif.db"
    store = TrialStore(url)
    accuracies = {"Tempotron": [0.95, 0.97, 0.96], "MLP": [0.98, 0.99, 0.97]}
    seconds = {"Tempotron": [(1.0, 3.0)] * 3, "MLP": [(0.5, 0.5)] * 3}
    for model, values in accuracies.items():
        for seed, accuracy in enumerate(values, start=1):
            config = {"seed": seed, "model": {"_target_": model}}
            trial = store.start_trial("models", config=config, seed=seed)
            for epoch, second in enumerate(seconds[model][seed - 1]):
                store.add_metrics(trial, epoch, {"train/seconds_per_epoch": second})
            store.add_metrics(trial, 2, {"test/acc": accuracy})
            store.finish_trial(trial, "completed", epochs=2)
    store.finish_trial(store.start_trial("models", config={"seed": 9, "model": {"_target_": "MLP"}}), "failed")  # left out

    parameters, rows = compare(Runs(url), "models", ["test/acc", "train/seconds_per_epoch", "test/nope"])
    assert parameters == ["model._target_"]
    by_model = {row["model._target_"]: row for row in rows}
    for model, values in accuracies.items():
        assert by_model[model]["trials"] == 3
        assert by_model[model]["test/acc"] == pytest.approx((statistics.fmean(values), statistics.stdev(values)))
        assert by_model[model]["test/nope"] is None
    assert by_model["Tempotron"]["train/seconds_per_epoch"] == pytest.approx((2.0, 0.0))  # the mean over epochs
    code, out, _ = run(capsys, url, "compare", "models")
    assert code == 0 and "Tempotron" in out and "0.96 ± 0.01" in out
    _, pooled = compare(Runs(url), "models", ["test/acc"], by=["seed"])  # grouped by another key
    assert sorted((row["seed"], row["trials"]) for row in pooled) == [("1", 2), ("2", 2), ("3", 2)]
