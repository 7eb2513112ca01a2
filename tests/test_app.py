"""The app built from composed configs: every option instantiates, jobs learn and log."""

import csv
import json
import math

import numpy
import pytest
import torch
from sqlmodel import Session, select

from support import CONFIG_DIR, write_mnist
from lif.app import build_parts, train
from lif.errors import ConfigError
from lif.tracking import Trial, connect

QUIET = ["trainer.enable_progress_bar=false", "logger=csv", "tracking=none"]
GROUPS_NOT_OPTIONS = {"hydra", "paths"}  # settings of the app itself, not user choices


def options():
    for group in sorted(path for path in CONFIG_DIR.iterdir() if path.is_dir()):
        if group.name in GROUPS_NOT_OPTIONS:
            continue
        for option in sorted(group.glob("*.yaml")):
            yield f"{group.name}={option.stem}"


def small_data(override, tmp_path):
    """Overrides that keep each data option small."""
    if override == "data=random_vectors":
        return ["data.num_samples=20", "data.num_features=10"]
    if override == "data=arrays":
        numpy.savez(tmp_path / "data.npz", features=numpy.random.rand(30, 5), labels=numpy.arange(30) % 3)
        return [f"data.path={tmp_path / 'data.npz'}", "model.num_outputs=3"]
    if override == "data=mnist":  # a few random 28x28 images of each digit in MNIST's IDX files
        write_mnist(tmp_path / "mnist", per_digit=(10, 1))  # val_fraction 0.1: one validation image per digit
        return [f"data.root={tmp_path / 'mnist'}", "model.num_outputs=10"]
    if override == "data=digits":
        return ["model.num_outputs=10"]  # alone it is an error: one output per class
    if override in ("experiment=digits", "hparams_search=digits_optuna", "experiment=digits_network", "experiment=gated_tempotron",
                    "experiment=tempotron_network", "experiment=odd_even"):
        return []
    if override == "experiment=yin_yang":
        return ["data.train_size=60", "data.val_size=30", "data.test_size=30"]
    if override == "data=yin_yang":
        return ["data.train_size=60", "data.val_size=30", "data.test_size=30", "model.num_outputs=3"]
    if override in ("data=randman", "experiment=randman"):
        return ["data.samples_per_class=10"] + ([] if override.startswith("experiment") else ["data.num_classes=2"])
    if override.startswith(("neuron=", "surrogate=", "model=network")):  # the parts of a network: train one
        return ["model=network", "model.hidden=[8]", "data.num_samples=20", "data.num_afferents=10"]
    if override == "loss=cross_entropy":  # needs one output per class
        return ["data.num_samples=20", "data.num_afferents=10", "model.num_outputs=2"]
    return ["data.num_samples=20", "data.num_afferents=10"]


@pytest.mark.parametrize("override", list(options()))
def test_every_option_of_every_group_composes_and_instantiates(make_config, override, tmp_path):
    parts = build_parts(make_config(override, *small_data(override, tmp_path)))
    inputs, labels, *raw = parts.datamodule.splits["train"].tensors
    net = parts.module.net
    reads = getattr(net, "inputs", "spikes")
    if reads != "features":
        assert net.num_afferents == parts.datamodule.num_afferents == inputs.shape[-1]
    assert (len(raw) == 1 and raw[0].shape == (len(labels), parts.datamodule.num_raw_features)) == (reads != "spikes")
    assert net.num_outputs in (1, parts.datamodule.num_classes)
    # and the parts work together: one training step gives a finite loss and finite gradients
    loss = parts.module.training_step(next(iter(parts.datamodule.train_dataloader())), 0)
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(parameter.grad).all() for parameter in net.parameters())


def test_groups_cover_the_design():
    groups = {path.name for path in CONFIG_DIR.iterdir() if path.is_dir()}
    expected = {"env", "kernel", "encoder", "data", "model", "loss", "optimizer", "scheduler", "trainer"}
    assert expected | {"callbacks", "logger", "tracking", "experiment", "hparams_search", "hydra"} <= groups


def test_200_patterns_over_100_afferents_are_learned_perfectly(make_config):
    cfg = make_config(
        "data.num_afferents=100",
        "data.num_samples=200",
        "data.batch_size=64",
        "optimizer.lr=2e-4",
        "trainer.max_epochs=600",
        *QUIET,
    )
    metrics = train(cfg)
    assert metrics["train/acc"] == 1.0
    assert metrics["train/acc_label_0"] == metrics["train/acc_label_1"] == 1.0


def test_splits_metrics_checkpoints_and_csv(make_config, tmp_path):
    cfg = make_config(
        "data.num_samples=120", "data.num_afferents=50", "data.val_fraction=0.25", "data.test_fraction=0.25",
        "trainer.max_epochs=3", *QUIET,
    )
    metrics = train(cfg)
    sizes = {"train": 60, "val": 30, "test": 30}  # 120 patterns, 25 % / 25 %, balanced labels
    for split, size in sizes.items():
        # accuracy is the support-weighted mean of the per-label accuracies (15 per label in val)
        per_label = (metrics[f"{split}/acc_label_0"] + metrics[f"{split}/acc_label_1"]) / 2
        assert metrics[f"{split}/acc"] == pytest.approx(per_label, abs=1e-6)
        assert metrics[f"{split}/acc"] * size == pytest.approx(round(metrics[f"{split}/acc"] * size), abs=1e-4)
        assert metrics[f"{split}/loss"] >= 0
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
    with open(tmp_path / "csv" / "metrics.csv") as handle:
        epochs = {int(row["epoch"]) for row in csv.DictReader(handle) if row["train/acc"]}
    assert epochs == {0, 1, 2}


@pytest.mark.parametrize(
    "override, field",
    [
        ("kernel.tau_s=20", "kernel.tau_s"),
        ("env.T=0", "env.T"),
        ("env.dt=-1", "env.dt"),
        ("env.dt=600", "env.dt"),
        ("data.test_fraction=1.0", "data.test_fraction"),
        ("optimizer.lr=-1", "optimizer.lr"),  # torch's and Lightning's own checks would name only the group:
        ("trainer.max_epochs=-5", "trainer.max_epochs"),  # lif.checks.RANGES names the field
        ("+optimizer.nesterov=true optimizer.dampening=0.5", "optimizer"),  # torch's own check, with the group
        ("model=network neuron.tau_m=-2", "neuron.tau_m"),
        ("model=network neuron=lif neuron.tau_m=0", "neuron.tau_m"),
        ("model=network neuron.reset=soft", "neuron.reset"),
        ("model=network surrogate=atan surrogate.alpha=0", "surrogate.alpha"),
        ("model=network kernel=exponential kernel.tau_m=3", "neuron.tau_s"),  # cuba's tau_s 3.75 > tau_m
        ("model=network model.hidden=[] loss.rate_penalty=1", "loss.rate_penalty"),  # no spiking layer to bound
        ("loss.rate_penalty=1", "loss.rate_penalty"),  # nor has a tempotron
        ("env.v_reset=2", "env.v_reset"),
        ("model=network model.hidden=[-3]", "model.hidden[0]"),
        ("model=network model.hidden=[{size:4,recurent:true}]", "model.hidden[0]"),
        ("model=network model.readout=first_spike", "model.readout"),
        ("model=network model.output=spiking model.readout=mean model.num_outputs=0", "model.num_outputs"),
        ("model=network loss=integrate", "loss._target_"),
        ("model=network loss.plasticity_induction=0.1", "loss.plasticity_induction"),
        ("loss.rate_max=2", "loss.rate_max"),
    ],
)
def test_bad_values_are_reported_with_their_config_field(make_config, override, field, tracking_database):
    with pytest.raises(ConfigError) as raised:
        build_parts(make_config(*override.split()))
    assert raised.value.field == field
    # and the job is still a trial: failed, with the error, never running or completed
    with Session(connect(tracking_database)) as session:
        (trial,) = session.exec(select(Trial)).all()
    assert trial.status == "failed" and f"{field}:" in trial.error and trial.ended_at is not None
    assert trial.config["seed"] == trial.seed == 1


def test_missing_or_malformed_mnist_files_name_data_root(make_config, tmp_path, monkeypatch):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "train-images-idx3-ubyte").write_bytes(bytes([0, 0, 0x08, 3]))  # the header cut short
    monkeypatch.setenv("LIF_MNIST_ROOT", str(tmp_path / "absent"))  # the default root
    for overrides, problem in (([], "absent (no such folder or .npz file)"),
                               ([f"data.root={tmp_path / 'mnist'}"], "train-images-idx3-ubyte: 4 bytes, shorter than")):
        with pytest.raises(ConfigError) as raised:
            build_parts(make_config("data=mnist", "model.num_outputs=10", *overrides))
        assert raised.value.field == "data.root" and problem in str(raised.value)


def test_values_outside_the_encoders_range_name_the_encoder(make_config, tmp_path):
    numpy.savez(tmp_path / "data.npz", features=numpy.linspace(0, 2, 40).reshape(20, 2), labels=numpy.arange(20) % 2)
    with pytest.raises(ConfigError) as raised:
        build_parts(make_config("data=arrays", f"data.path={tmp_path / 'data.npz'}", "data.scale=none"))
    assert raised.value.field == "encoder.max_value"
    assert "values in [0, 2]" in str(raised.value)


@pytest.mark.slow
def test_digits_experiment_beats_chance_widely_and_logs_every_label(make_config, tmp_path):
    cfg = make_config("experiment=digits", "trainer.max_epochs=3", "logger=none", f"tracking.url=sqlite:///{tmp_path}/lif.db",
                      "trainer.enable_progress_bar=false")
    metrics = train(cfg)
    assert metrics["test/acc"] > 0.6  # chance is 0.1
    for split in ("train", "val", "test"):
        assert {f"{split}/acc_label_{label}" for label in range(10)} <= set(metrics)


def test_a_network_job_logs_layer_rates_and_readout_statistics(make_config, tmp_path):
    cfg = make_config(
        "model=network", "model.hidden=[16,8]", "data.num_samples=60", "data.num_afferents=20", "env.T=50",
        "encoder.duration=40", "data.val_fraction=0.25", "trainer.max_epochs=2", *QUIET,
    )
    metrics = train(cfg)
    for split in ("train", "val"):
        for layer in (0, 1, 2):  # the input, two hidden layers (the li output does not spike)
            assert 0 <= metrics[f"{split}/rate_layer_{layer}"] <= 1
        assert f"{split}/rate_layer_3" not in metrics
        assert metrics[f"{split}/readout_std"] >= 0 and math.isfinite(metrics[f"{split}/readout_mean"])
    # one spike per afferent in 50 steps (latencies below 40 ms): the input's rate is exactly 1/50
    assert metrics["train/rate_layer_0"] == pytest.approx(1 / 50)
    # 20 input spikes, each reaching the 16 neurons of hidden 1, whose spikes reach 8, whose spikes reach the 2 outputs
    assert metrics["train/spikes_per_pattern_layer_0"] == pytest.approx(20)
    spikes = [metrics[f"train/spikes_per_pattern_layer_{layer}"] for layer in (1, 2)]
    assert metrics["train/synaptic_events_per_pattern"] == pytest.approx(20 * 16 + spikes[0] * 8 + spikes[1] * 2)
    assert metrics["train/seconds_per_epoch"] > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["metrics"]["train/acc"] == metrics["train/acc"] and summary["timings"]["fit_seconds"] > 0


def test_a_tempotron_job_does_not_check_the_network_groups(make_config):
    # kernel tau_m = 3 ms would be an error for the default cuba neuron (tau_s 3.75), which a tempotron never builds
    parts = build_parts(make_config("kernel=exponential", "kernel.tau_m=3", "data.num_samples=20", "data.num_afferents=10"))
    assert parts.module.net.kernel.tau_m == 3.0
