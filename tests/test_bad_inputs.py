"""Every bad input ends `python train.py` with one line naming its field.

A table of bad inputs, as a new user types them: config values, data files (made here),
tracking URLs, loggers and environment variables. Each is a real `python train.py` job that
must exit non-zero without a traceback, name the field in the last line it prints
(`lif: config error: <field>: expected ...`), and leave its trial `failed`, with that error,
wherever a tracking database can be reached.

A job costs a few seconds of imports, so a module fixture runs the whole table two jobs at
a time before the first test; each test reads one job's result.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy
import pytest
from sqlmodel import Session, create_engine, select

from lif.tracking import Trial
from support import ROOT

pytestmark = pytest.mark.slow

SMALL = ["data.num_samples=40", "data.num_afferents=20"]  # the default data (random patterns), small


class Case(NamedTuple):
    overrides: str  # "{files}" is the folder of the bad files written by write_bad_files
    field: str  # named in the last line
    env: dict[str, str] = {}
    database: bool = True  # the trial can be recorded (False: the tracking database itself is the bad input)


CASES = [
    # encoder values: named encoder.*, not data.* (the encoder is its own group)
    Case("encoder.max_value=-1", "encoder.max_value"),
    Case("encoder=rate encoder.max_rate=-5", "encoder.max_rate"),
    Case("encoder=population encoder.num_neurons=1", "encoder.num_neurons"),
    Case("encoder=population encoder.width=0", "encoder.width"),
    # numbers that are not finite, strings for numbers
    Case("optimizer.lr=nan", "optimizer.lr"),
    Case("kernel.tau_m=inf", "kernel.tau_m"),
    Case("data.val_fraction=-inf", "data.val_fraction"),
    Case("kernel.tau_m=abc", "kernel.tau_m"),
    Case("optimizer.lr=fast", "optimizer.lr"),
    Case("data.num_samples=many", "data.num_samples"),
    Case("data.batch_size=2.5", "data.batch_size"),
    Case("trainer.max_epochs=ten", "trainer.max_epochs"),
    Case("seed=abc", "seed"),
    # values out of range
    Case("trainer.max_epochs=0", "trainer.max_epochs"),
    Case("trainer.max_epochs=-1", "trainer.max_epochs"),
    Case("trainer.check_val_every_n_epoch=0", "trainer.check_val_every_n_epoch"),
    Case("seed=-1", "seed"),
    Case("optimizer.momentum=1.0", "optimizer.momentum"),
    Case("optimizer=adam optimizer.lr=0", "optimizer.lr"),
    Case("scheduler=step scheduler.step_size=0", "scheduler.step_size"),
    Case("data.batch_size=0", "data.batch_size"),
    Case("callbacks.early_stopping.patience=-1", "callbacks.early_stopping.patience"),
    Case("callbacks.model_checkpoint.mode=sideways", "callbacks.model_checkpoint.mode"),
    Case("tracking.mode=sideways", "tracking.mode", database=False),  # the recorder's own setting: no trial
    Case("env.device=tpu", "env.device"),
    # splits that come out empty, metrics that no split logs
    Case("data.val_fraction=0.001 optimized_metric=val/acc", "data.val_fraction"),
    Case("data.num_samples=3 data.test_fraction=0.2", "data.test_fraction"),
    Case("optimized_metric=val/acc", "optimized_metric"),
    Case("optimized_metric=train/epochs_to_perfect", "optimized_metric"),  # checkpoints cannot watch it
    Case("callbacks.model_checkpoint.monitor=train/nope", "callbacks.model_checkpoint.monitor"),
    Case("callbacks.early_stopping.monitor=val/loss", "callbacks.early_stopping.monitor"),
    # data files
    Case("data=arrays", "data.path"),
    Case("data=arrays data.path={files}/absent.npz", "data.path"),
    Case("data=arrays data.path={files}/data.txt", "data.path"),
    Case("data=arrays data.path={files}/string_labels.npz", "data.path"),
    Case("data=arrays data.path={files}/object_labels.npz", "data.path"),
    Case("data=arrays data.path={files}/string_features.npz", "data.path"),
    Case("data=arrays data.path={files}/empty.npz", "data.path"),
    Case("data=arrays data.path={files}/garbage.npz", "data.path"),
    Case("data=arrays data.path={files}/no_labels.npz", "data.path"),
    Case("data=arrays data.path={files}/one_class.npz", "data.path"),
    Case("data=arrays data.path={files}/nan_features.npz", "data.path"),
    Case("data=arrays data.path={files}/fractional_labels.npz", "data.path"),
    Case("data=arrays data.path={files}/text_cells.csv", "data.path"),
    Case("data=arrays data.path={files}/empty.csv", "data.path"),
    Case("data=arrays data.path={files}/header_only.csv", "data.path"),
    Case("data=arrays data.path={files}/ragged.csv", "data.path"),
    Case("data=arrays data.path={files}/text_cells.csv data.label_column=class", "data.label_column"),
    Case("data=arrays data.path={files}/wide.npz data.scale=none", "encoder.max_value"),
    # tracking databases that cannot be used: no trial can be recorded
    Case("tracking.url=notaurl", "tracking.url", database=False),
    Case("tracking.url=mysql://x/y", "tracking.url", database=False),  # no driver: says which to install
    Case("tracking.url=postgresql+psycopg://u:p@127.0.0.1:1/x", "tracking.url", database=False),  # no server
    Case("tracking.url=sqlite:////proc/nope/lif.db", "tracking.url", database=False),
    Case("tracking.url=sqlite:///{files}/data.txt", "tracking.url", database=False),  # not a database
    Case("", "tracking.url", env={"LIF_TRACKING_URL": "notaurl"}, database=False),
    # loggers that cannot start
    Case("", "logger.wandb", env={"WANDB_MODE": "bogus"}),
    Case("logger=csv logger.csv.save_dir=/proc/nope", "logger.csv.save_dir"),
]


def write_bad_files(folder: Path) -> None:
    """The data files of the table, each wrong in one way."""
    folder.mkdir(parents=True)
    features = numpy.random.default_rng(0).random((20, 3))
    labels = numpy.arange(20) % 2
    numpy.savez(folder / "string_labels.npz", features=features, labels=numpy.array(["cat", "dog"] * 10))
    objects = numpy.array([0, "one", None, 1] * 5, dtype=object)
    numpy.savez(folder / "object_labels.npz", features=features, labels=objects)
    numpy.savez(folder / "string_features.npz", features=features.astype(str), labels=labels)
    (folder / "empty.npz").write_bytes(b"")
    (folder / "garbage.npz").write_bytes(bytes(range(256)))
    numpy.savez(folder / "no_labels.npz", features=features, targets=labels)
    numpy.savez(folder / "one_class.npz", features=features, labels=numpy.zeros(20, dtype=int))
    numpy.savez(folder / "nan_features.npz", features=numpy.where(features > 0.9, numpy.nan, features), labels=labels)
    numpy.savez(folder / "fractional_labels.npz", features=features, labels=labels + 0.5)
    numpy.savez(folder / "wide.npz", features=features * 3, labels=labels)  # values up to 3 > encoder.max_value
    (folder / "text_cells.csv").write_text("a,b,label\n0.1,0.2,0\n0.3,high,1\n0.5,0.6,0\n0.7,0.8,1\n")
    (folder / "empty.csv").write_text("")
    (folder / "header_only.csv").write_text("a,b,label\n")
    (folder / "ragged.csv").write_text("a,b,label\n0.1,0.2,0\n0.3,1\n0.5,0.6,0,9\n")
    (folder / "data.txt").write_text("not data\n")


def run_case(case: Case, run_dir: Path, files: Path) -> subprocess.CompletedProcess:
    """`python train.py` with the case's overrides, in ``run_dir``, output and errors as one stream."""
    overrides = case.overrides.format(files=files).split()
    given = {override.split("=")[0] for override in overrides}
    if "tracking.url" not in given and "LIF_TRACKING_URL" not in case.env:
        overrides.append(f"tracking.url=sqlite:///{run_dir}/lif.db")
    if "trainer.max_epochs" not in given:
        overrides.append("trainer.max_epochs=1")
    if "data" not in given:
        overrides += [override for override in SMALL if override.split("=")[0] not in given]
    importable = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": importable, **case.env}
    command = [sys.executable, "train.py", *overrides, "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}"]
    return subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> dict[int, tuple[subprocess.CompletedProcess, Path]]:
    """Every case's finished job and its folder, by index in CASES."""
    folder = tmp_path_factory.mktemp("bad_inputs")
    files = folder / "files"
    write_bad_files(files)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {index: pool.submit(run_case, case, folder / str(index), files) for index, case in enumerate(CASES)}
        return {index: (future.result(), folder / str(index)) for index, future in futures.items()}


def case_id(case: Case) -> str:
    return case.overrides or " ".join(f"{name}={value}" for name, value in case.env.items())


def test_the_table_is_large():
    assert len(CASES) >= 50
    assert len({case_id(case) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=[case_id(case) for case in CASES])
def test_a_bad_input_is_one_line_naming_its_field_and_a_failed_trial(results, index):
    case = CASES[index]
    result, run_dir = results[index]
    output = result.stdout
    lines = [line for line in output.splitlines() if line.strip()]
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    assert lines and lines[-1].startswith(f"lif: config error: {case.field}: expected "), output
    if not case.database:
        return
    with Session(create_engine(f"sqlite:///{run_dir / 'lif.db'}")) as session:
        (trial,) = session.exec(select(Trial)).all()
    assert trial.status == "failed" and trial.ended_at is not None
    assert f"{case.field}: expected" in trial.error
