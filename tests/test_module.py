"""The LightningModule's decisions and metrics."""

import functools
import math

import lightning as L
import pytest
import torch
from lightning.pytorch.loggers import Logger

from lif.kernels import DoubleExponentialKernel
from lif.losses import HingeLoss
from lif.models.ann import MLP
from lif.models.gated_tempotron import GatedTempotron
from lif.models.network import Network
from lif.models.tempotron import Tempotron
from lif.module import Classifier, describe_metrics, logs_metric
from lif.stepped.lif import LIF


class Output:
    def __init__(self, readout, v_th=1.0):
        self.readout, self.v_th = torch.tensor(readout), v_th


def test_the_highest_readout_wins_and_a_tie_for_it_is_an_error():
    readout = [[0.2, 0.9, 0.1], [0.0, 0.0, 0.0], [3.0, 3.0, 1.0], [1.0, 2.0, 2.0]]
    labels = torch.tensor([1, 0, 1, 2])
    predicted = Classifier.predict(Output(readout), labels)
    assert predicted[0] == 1  # clear winner
    assert (predicted[1:] != labels[1:]).all()  # silent outputs, and ties at the top: wrong, whatever the label


def test_one_output_decides_by_its_threshold():
    predicted = Classifier.predict(Output([[0.99], [1.0], [1.5]], v_th=1.0), torch.tensor([1, 1, 0]))
    assert predicted.tolist() == [0, 1, 1]


# Sparsity and compute: spikes and synaptic events per pattern against counts made here by hand.

def evaluated_metrics(net, batches, split="val"):
    """What the module logs for ``split`` after evaluating ``batches`` (lists of (inputs, labels))."""
    module = Classifier(net, HingeLoss(), optimizer=functools.partial(torch.optim.SGD, lr=0.1))
    logged = {}
    module.log = lambda name, value, **kwargs: logged.__setitem__(name, float(value))
    with torch.no_grad():
        for batch in batches:
            module._evaluate(split, batch)
    module._log_split(split)
    return logged


def test_a_tempotron_counts_its_input_spikes_and_one_event_per_output():
    net = Tempotron(num_afferents=4, kernel=DoubleExponentialKernel(), num_outputs=3, T=10.0)
    raster = torch.zeros(3, 10, 4, dtype=torch.bool)
    raster[0, 1, 0] = raster[0, 4, 0] = raster[0, 9, 3] = True  # 3 spikes
    raster[1, 0, 2] = True  # 1 spike; pattern 2 is silent
    times = torch.tensor([[1.5, 3.0, math.inf, 12.0]])  # 2 spikes inside [0, 10): 12 ms is after the window
    metrics = evaluated_metrics(net, [(raster, torch.tensor([0, 1, 2])), (times, torch.tensor([1]))])
    patterns = 4
    assert metrics["val/spikes_per_pattern_layer_0"] == pytest.approx((3 + 1 + 0 + 2) / patterns)
    assert metrics["val/rate_layer_0"] == pytest.approx((3 + 1 + 0 + 2) / (4 * 10) / patterns)
    assert metrics["val/synaptic_events_per_pattern"] == pytest.approx((3 + 1 + 0 + 2) * 3 / patterns)
    assert not any(name.startswith("val/spikes_per_pattern_layer_") and not name.endswith("_0") for name in metrics)


def test_a_gated_tempotron_counts_one_event_per_branch_and_output():
    net = GatedTempotron(num_afferents=4, num_features=2, kernel=DoubleExponentialKernel(), num_outputs=3, num_branches=5, T=10.0)
    raster = torch.zeros(2, 10, 4, dtype=torch.bool)
    raster[0, 2, 1] = raster[1, 3, 0] = raster[1, 7, 2] = True
    metrics = evaluated_metrics(net, [(raster, torch.tensor([0, 1]), torch.randn(2, 2))])
    assert metrics["val/spikes_per_pattern_layer_0"] == pytest.approx(3 / 2)
    assert metrics["val/synaptic_events_per_pattern"] == pytest.approx(3 * 5 * 3 / 2)
    assert net.fan_out == {0: 15}
    threshold = GatedTempotron(num_afferents=4, num_features=2, kernel=DoubleExponentialKernel(), num_outputs=3, num_branches=5,
                               gate="threshold")
    assert threshold.fan_out == {0: 5 * 3 + 5}  # the gate units read every input spike too


@pytest.mark.parametrize("recurrent", [False, True])
def test_a_network_counts_every_layers_spikes_times_its_fan_out(recurrent):
    torch.manual_seed(0)
    net = Network(5, functools.partial(LIF, tau_m=5.0), DoubleExponentialKernel(), hidden=[{"size": 4, "recurrent": recurrent}, 3],
                  num_outputs=2, output="spiking", readout="spike_count", T=20.0, init_gain=4.0)
    raster = torch.rand(6, 20, 5) < 0.3
    labels = torch.tensor([0, 1, 0, 1, 1, 0])
    metrics = evaluated_metrics(net, [(raster[:4], labels[:4]), (raster[4:], labels[4:])])
    with torch.no_grad():
        spikes = net(raster).spikes  # hidden 1 [6, 20, 4], hidden 2 [6, 20, 3], output [6, 20, 2]
    counts = [int(raster.sum())] + [int((layer == 1).sum()) for layer in spikes]
    assert counts[1] > 0 and counts[2] > 0  # the layers do spike
    for layer, count in enumerate(counts):
        assert metrics[f"val/spikes_per_pattern_layer_{layer}"] == pytest.approx(count / 6)
    fan_out = [4, 3 + (4 if recurrent else 0), 2, 0]  # input -> hidden 1 (-> itself) -> hidden 2 -> output -> nothing
    assert net.fan_out == dict(enumerate(fan_out))
    events = sum(count * reach for count, reach in zip(counts, fan_out))
    assert metrics["val/synaptic_events_per_pattern"] == pytest.approx(events / 6)
    assert metrics["val/rate_layer_1"] == pytest.approx(counts[1] / (4 * 20) / 6)


def test_an_ann_has_no_spikes_and_counts_its_multiply_accumulates():
    net = MLP(num_features=6, num_outputs=3, hidden=[5, 4])
    metrics = evaluated_metrics(net, [(None, torch.tensor([0, 1]), torch.randn(2, 6))])
    assert metrics["val/synaptic_events_per_pattern"] == 6 * 5 + 5 * 4 + 4 * 3
    assert not any("layer" in name for name in metrics)


def test_seconds_per_epoch_are_logged_each_training_epoch_and_every_metric_is_declared():
    torch.manual_seed(0)
    net = Tempotron(num_afferents=4, kernel=DoubleExponentialKernel(), T=10.0)
    data = torch.utils.data.TensorDataset(torch.rand(8, 10, 4) < 0.2, torch.arange(8) % 2)
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    module = Classifier(net, HingeLoss(), optimizer=functools.partial(torch.optim.SGD, lr=0.1))
    logged = []  # what a logger (the tracking database's, W&B) receives: one dict per log_metrics call

    class Record(Logger):
        name, version = "record", 0

        def log_hyperparams(self, params, *args, **kwargs):
            pass

        def log_metrics(self, metrics, step=None):
            logged.append(dict(metrics))

    trainer = L.Trainer(max_epochs=2, logger=Record(), enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(module, loader, loader)
    epochs = {}
    for metrics in logged:
        epochs.setdefault(int(metrics.pop("epoch")), {}).update(metrics)
    assert len(epochs) == 2
    for metrics in epochs.values():
        assert metrics["train/seconds_per_epoch"] > 0
        assert {"val/spikes_per_pattern_layer_0", "val/synaptic_events_per_pattern"} <= set(metrics)
        for name in metrics:
            assert logs_metric(name, ["val"], ["0", "1"]), name
    assert "train/seconds_per_epoch" in describe_metrics(["val"]) and "spikes_per_pattern_layer_<i>" in describe_metrics(["val"])
