"""Helpers shared by the tests (on sys.path through pytest's `pythonpath`)."""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from lif.stepped.alif import ALIF
from lif.stepped.cuba import CUBA
from lif.stepped.lif import LIF
from lif.stepped.surrogates import Atan, FastSigmoid, Sigmoid, StraightThrough, Triangle

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "conf"
# Small, quiet jobs for command-line tests.
FAST = ["data.num_samples=40", "data.num_afferents=20", "trainer.enable_progress_bar=false"]
# The spiking neuron models and surrogates the compiled paths must each reproduce.
NEURONS = {
    "lif": lambda **settings: LIF(tau_m=8.0, **settings),
    "cuba": lambda **settings: CUBA(tau_m=8.0, tau_s=2.0, **settings),
    "alif": lambda **settings: ALIF(tau_m=8.0, tau_a=30.0, beta=0.4, **settings),
}
SURROGATES = [FastSigmoid(slope=5.0), Atan(alpha=2.0), Sigmoid(slope=4.0), Triangle(width=0.8), StraightThrough()]


def assert_same_run(reference, fast, voltage_tolerance: float = 0.0, gradient_tolerance: float = 1e-12) -> None:
    """Two paths' (spikes, voltages, gradients): the same spikes, voltages and gradients within the tolerances."""
    (spikes, voltages, gradients), (fast_spikes, fast_voltages, fast_gradients) = reference, fast
    assert torch.equal(fast_spikes, spikes)
    torch.testing.assert_close(fast_voltages, voltages, rtol=voltage_tolerance, atol=voltage_tolerance)
    for fast_gradient, gradient in zip(fast_gradients, gradients):
        torch.testing.assert_close(fast_gradient, gradient, rtol=gradient_tolerance, atol=gradient_tolerance)


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The app's config with ``overrides``, as a job writing into ``output_dir`` would see it."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONFIG_DIR)):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
        with open_dict(cfg):
            cfg.hydra.runtime.output_dir = str(output_dir)
            cfg.hydra.job.num = 0
        HydraConfig.instance().set_config(cfg)
        with open_dict(cfg):
            del cfg.hydra
            cfg.paths.output_dir = str(output_dir)
    return cfg


def run_train(*arguments: str, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    """`python train.py ARGUMENTS` from the repository root; this folder is importable by the job."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "train.py", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env, **popen
    )


class FailAtEpoch(L.Callback):
    """Raises at the start of ``epoch`` when ``seed == fail_seed``: a job that breaks mid-training."""

    def __init__(self, epoch: int, fail_seed: int, seed: int) -> None:
        self.epoch, self.fail_seed, self.seed = epoch, fail_seed, seed

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.seed == self.fail_seed and trainer.current_epoch == self.epoch:
            raise RuntimeError(f"injected failure at epoch {self.epoch}")


def wandb_records(run_file: Path) -> list:
    """Decode a W&B offline run file (``run-<id>.wandb``) into wandb's own protobuf records.

    The file is a LevelDB-style log (a 7-byte W&B header, then 32 KiB blocks of records,
    each with a 7-byte header: CRC, length, type = full/first/middle/last).
    """
    from wandb.proto import wandb_internal_pb2

    data = run_file.read_bytes()
    assert data[:4] == b":W&B", f"{run_file} is not a W&B run file"
    position, block, pending, records = 7, 32768, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # too little room for a header: the block is padded
            position += block - position % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:
            break
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == 1:
            pending, complete = b"", chunk
        elif kind == 2:
            pending, complete = chunk, None
        elif kind == 3:
            pending, complete = pending + chunk, None
        else:
            pending, complete = b"", pending + chunk
        if complete is not None:
            record = wandb_internal_pb2.Record()
            record.ParseFromString(complete)
            records.append(record)
    return records


def wandb_run_record(run_dir: Path):
    """The run record (id, group, tags, config) of an offline W&B run directory."""
    (run_file,) = run_dir.glob("run-*.wandb")
    runs = [record.run for record in wandb_records(run_file) if record.WhichOneof("record_type") == "run"]
    assert runs, f"no run record in {run_file}"
    return runs[0]


def write_trials(url: str, worker: int, num_trials: int, num_epochs: int, start=None) -> None:
    """One of several concurrent writers: trials with epoch metrics, as the app writes them.

    ``start`` (a barrier) lines the writers up so that they also race to create the tables.
    """
    from lif.tracking import TrialStore

    if start is not None:
        start.wait()
    store = TrialStore(url)
    for number in range(num_trials):
        trial_id = store.start_trial("concurrent", "four writers", seed=worker, job_number=number, overrides=[f"seed={worker}"])
        for epoch in range(num_epochs):
            store.add_metrics(trial_id, epoch, {"train/loss": 1.0 / (epoch + 1), "train/acc": epoch / num_epochs})
        store.finish_trial(trial_id, "completed", final_value=1.0, best_value=1.0)


def wandb_config(run_dir: Path) -> dict[str, str]:
    """The run config of an offline W&B run: key -> JSON text, from init and later updates."""
    (run_file,) = run_dir.glob("run-*.wandb")
    config: dict[str, str] = {}
    for record in wandb_records(run_file):
        kind = record.WhichOneof("record_type")
        updates = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        config.update({item.key: item.value_json for item in updates})
    return config


class PoisonWeights(L.Callback):
    """Sets every weight to NaN at the start of training when ``trigger == when``."""

    def __init__(self, trigger: float, when: float) -> None:
        self.poisoned = trigger == when

    def on_train_start(self, trainer, pl_module) -> None:
        if self.poisoned:
            with torch.no_grad():
                for parameter in pl_module.parameters():
                    parameter.fill_(float("nan"))


def formula(t, spike, tau_m, tau_s, v_0):
    """The double exponential PSP at time t of a spike at `spike`, written out."""
    s = t - spike
    return v_0 * (math.exp(-s / tau_m) - math.exp(-s / tau_s)) if s >= 0 else 0.0


def dense_reference(inputs, weights, kernel, dt, num_steps, v_rest=0.0):
    """The naive way: a [B, L, N_in] PSP tensor, then a matrix product with the weights.

    ``inputs`` are spike times [B, N_in(, S)] (ms; inf/NaN = none) or a bool raster [B, L, N_in].
    """
    grid = torch.arange(num_steps, dtype=weights.dtype) * dt
    if inputs.dtype == torch.bool:  # psp[b, k, i] = sum_{k' <= k} raster[b, k', i] K((k - k') dt)
        lags = grid[:, None] - grid[None, :]  # [k, k']
        psp = torch.einsum("kj,bji->bki", kernel(lags), inputs.to(weights.dtype))
    else:
        times = inputs if inputs.dim() == 3 else inputs.unsqueeze(-1)
        lags = grid[None, :, None, None] - times[:, None].to(weights.dtype)  # [B, L, N_in, S]
        lags = torch.nan_to_num(lags, nan=-1.0, neginf=-1.0)  # no spike: no PSP
        psp = kernel(lags).sum(-1)
    return psp @ weights + v_rest  # [B, L, N_out]


def require(available: bool, message: str, variable: str) -> None:
    """Fail when ``variable`` is set (CI installs what the test needs), skip with ``message`` otherwise."""
    import pytest

    if available:
        return
    if os.environ.get(variable):
        pytest.fail(message)
    pytest.skip(message)


def write_idx(path: Path, array) -> None:
    """``array`` as an IDX file of unsigned bytes, written out by hand: the magic number 0x00 0x00 0x08 <ndim>,
    each size as a big-endian uint32, then the bytes; gzip-compressed when ``path`` ends in .gz."""
    import gzip

    import numpy

    header = struct.pack(f">4B{array.ndim}I", 0, 0, 0x08, array.ndim, *array.shape)
    data = header + numpy.asarray(array, numpy.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_mnist(folder: Path, per_digit: tuple[int, int] = (4, 2), suffix: str = "", seed: int = 0) -> dict:
    """MNIST's four IDX files in ``folder`` (``suffix`` ".gz": compressed), with random 28x28 images and
    ``per_digit`` = (training, test) images of every digit 0..9; returns the arrays written,
    {"train": (images, labels), "test": (images, labels)}."""
    import numpy

    folder.mkdir(parents=True, exist_ok=True)
    rng = numpy.random.default_rng(seed)
    written = {}
    for part, prefix, count in (("train", "train", per_digit[0]), ("test", "t10k", per_digit[1])):
        labels = rng.permutation(numpy.repeat(numpy.arange(10, dtype=numpy.uint8), count))
        images = rng.integers(0, 256, (len(labels), 28, 28), dtype=numpy.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        written[part] = images, labels
    return written
