"""Optuna searches through hydra-optuna-sweeper: install, persistence, resume, parallel, failures."""

import importlib.metadata
import subprocess
import sys
from wsgiref.util import setup_testing_defaults

import optuna
import pytest
from sqlmodel import Session, select

from lif.search import study_seed
from lif.tracking import Experiment, Trial, connect
from support import FAST, ROOT, run_train

SEARCH = ["hparams_search=tempotron_optuna", "logger=none", *FAST, "trainer.max_epochs=4"]
PARAMETERS = ("optimizer.lr", "optimizer.momentum", "data.batch_size", "kernel.tau_m", "model.init_std")


def test_the_sweeper_is_1_3_0_next_to_a_modern_optuna_and_nothing_else_is_broken():
    assert importlib.metadata.version("hydra-optuna-sweeper") == "1.3.0"  # not silently backtracked
    assert tuple(int(part) for part in optuna.__version__.split(".")[:2]) >= (4, 9)
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper  # noqa: F401  imports cleanly

    check = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    problems = [line for line in check.stdout.splitlines() if line.strip() and "No broken requirements" not in line]
    known = (
        "hydra-optuna-sweeper 1.3.0 has requirement optuna<3",  # the documented install
        "norse ", "spikingjelly ",  # benchmark peers, installed --no-deps by `make bench-peers`
    )
    assert all(line.startswith(known) for line in problems), problems


def study_trials(storage, name):
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def tracked(url, experiment):
    with Session(connect(url)) as session:
        row = session.exec(select(Experiment).where(Experiment.name == experiment)).one()
        return row, session.exec(select(Trial).where(Trial.experiment_id == row.id)).all()


def test_a_tpe_study_is_persistent_recorded_and_resumed_without_repeating_points(tmp_path):
    storage, url = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/lif.db"
    command = [*SEARCH, "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", f"tracking.url={url}"]
    first = run_train("-m", *command, f"hydra.sweep.dir={tmp_path}/first")
    assert first.returncode == 0, first.stderr[-3000:]
    trials = study_trials(storage, "tempotron_optuna")
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.COMPLETE] * 4
    experiment, rows = tracked(url, "tempotron_optuna")
    assert experiment.study_name == "tempotron_optuna" and experiment.study_storage == storage
    assert sorted(row.status for row in rows) == ["completed"] * 4
    # Every trial row holds the parameters Optuna sampled for one of its trials.
    sampled = {tuple(sorted((name, float(value)) for name, value in trial.params.items())) for trial in trials}
    recorded = {
        tuple(sorted((name, float(value)) for name, value in (o.split("=", 1) for o in row.overrides) if name in PARAMETERS))
        for row in rows
    }
    assert recorded == sampled and len(sampled) == 4
    assert sorted(row.final_value for row in rows) == sorted(trial.value for trial in trials)

    second = run_train("-m", *command, f"hydra.sweep.dir={tmp_path}/second")
    assert second.returncode == 0, second.stderr[-3000:]
    trials = study_trials(storage, "tempotron_optuna")
    assert len(trials) == 8 and all(trial.state == optuna.trial.TrialState.COMPLETE for trial in trials)
    points = [tuple(sorted(trial.params.items())) for trial in trials]
    assert len(set(points)) == 8  # the resumed run did not replay the first four points
    assert len(tracked(url, "tempotron_optuna")[1]) == 8


def test_two_joblib_workers_run_the_sweep_and_every_trial_is_recorded(tmp_path):
    # Two batches of two, with the W&B logger: the second batch runs in reused workers,
    # where Hydra restores the main process's config resolvers before each job.
    storage, url = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/lif.db"
    search = [argument for argument in SEARCH if argument != "logger=none"]
    result = run_train(
        "-m", *search, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4", f"hydra.sweeper.storage={storage}", f"tracking.url={url}",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    failures = [line for line in result.stderr.splitlines() if "Failed experiment" in line]
    assert not failures, failures
    assert [trial.state for trial in study_trials(storage, "tempotron_optuna")] == [optuna.trial.TrialState.COMPLETE] * 4
    rows = tracked(url, "tempotron_optuna")[1]
    assert sorted(row.status for row in rows) == ["completed"] * 4
    assert len({row.wandb_run_id for row in rows}) == 4


def test_a_failed_trial_is_a_failure_for_optuna_and_the_sweep_goes_on(tmp_path):
    storage, url = f"sqlite:///{tmp_path}/optuna.db", f"sqlite:///{tmp_path}/lif.db"
    result = run_train(
        "-m", f"hydra.searchpath=[file://{ROOT}/tests/configs]", "hparams_search=nan_probe", "logger=none", *FAST,
        "trainer.max_epochs=2", f"hydra.sweeper.storage={storage}", f"tracking.url={url}", f"hydra.sweep.dir={tmp_path}/s",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    states = {trial.params["model.init_std"]: trial.state for trial in study_trials(storage, "nan_probe")}
    failed = optuna.trial.TrialState.FAIL
    assert states == {0.01: optuna.trial.TrialState.COMPLETE, 0.02: failed, -1.0: failed}
    rows = {row.config["model"]["init_std"]: row for row in tracked(url, "nan_probe")[1]}
    assert rows[0.01].status == "completed"
    assert rows[0.02].status == "failed" and "FloatingPointError: training loss is nan" in rows[0.02].error
    assert rows[-1.0].status == "failed" and "model.init_std: expected a standard deviation >= 0" in rows[-1.0].error


def test_the_sampler_seed_moves_on_with_the_study(tmp_path):
    storage = f"sqlite:///{tmp_path}/sub/optuna.db"  # the folder does not exist yet
    assert study_seed(7, storage, "s") == 7
    study = optuna.create_study(study_name="s", storage=storage)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert study_seed(7, storage, "s") == 10
    assert study_seed(None, storage, "s") is None


def test_the_dashboard_serves_the_study(tmp_path):
    from optuna_dashboard import wsgi

    storage = f"sqlite:///{tmp_path}/optuna.db"
    optuna.create_study(study_name="visible", storage=storage).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    environ = {"PATH_INFO": "/api/studies", "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    statuses = []
    body = b"".join(wsgi(storage)(environ, lambda status, headers, exc_info=None: statuses.append(status)))
    assert statuses[0].startswith("200") and b"visible" in body


@pytest.mark.parametrize("launcher, target", [("slurm", "SlurmLauncher"), ("joblib", "JoblibLauncher")])
def test_cluster_launcher_configs_compose(tmp_path, launcher, target):
    from hydra import compose, initialize_config_dir

    from support import CONFIG_DIR

    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose("config", overrides=[f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    if launcher == "slurm":
        assert cfg.hydra.launcher.cpus_per_task == 2 and cfg.hydra.launcher.timeout_min == 60


def test_only_the_sweeps_own_unfinished_trials_are_failed(tmp_path):
    from lif.search import every_trial_failed, fail_unfinished_trials

    study = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path}/optuna.db")
    other_sweeps = study.ask()  # another process's trial, running in the same study
    finished, unfinished = study.ask(), study.ask()
    study.tell(finished, 1.0)
    assert fail_unfinished_trials([finished, unfinished]) == 1
    states = [trial.state for trial in study.get_trials()]
    assert states == [optuna.trial.TrialState.RUNNING, optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL]
    assert fail_unfinished_trials([]) == 0 and fail_unfinished_trials([unfinished]) == 0
    assert every_trial_failed([unfinished]) and not every_trial_failed([finished, unfinished])
    assert not every_trial_failed([]) and not every_trial_failed([other_sweeps])


@pytest.mark.slow
def test_a_sweep_aborted_by_a_bad_key_leaves_no_trial_running(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    result = run_train(
        "-m", *SEARCH, "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}", "nope=range(1,3)",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    assert result.returncode == 1
    assert "Could not override 'nope'" in result.stderr  # Hydra's own message: the job's overrides do not compose
    assert [trial.state for trial in study_trials(storage, "tempotron_optuna")] == [optuna.trial.TrialState.FAIL]


@pytest.mark.slow
def test_a_sweep_whose_trials_all_fail_ends_with_one_line(tmp_path, tracking_database):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    result = run_train(
        "-m", *SEARCH, "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage={storage}", "model.init_std=choice(-1.0,-2.0)",
        f"hydra.sweep.dir={tmp_path}/sweep",
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "lif: all 2 trials of the sweep (Optuna study 'tempotron_optuna') failed; "
        "their errors are in the tracking database: python -m lif.runs trials"  # the default database: no --url
    )
    assert [trial.state for trial in study_trials(storage, "tempotron_optuna")] == [optuna.trial.TrialState.FAIL] * 2
    assert [row.status for row in tracked(tracking_database, "tempotron_optuna")[1]] == ["failed", "failed"]
