"""The LightningModule: gradient descent on a per-pattern loss of any model's readout.

One module trains every model (the tempotron, spiking networks): the model maps a batch of
inputs to an output whose ``readout`` [B, O] holds one score per output (the tempotron's
V_max, a network's readout) and ``v_th`` the decision threshold of a single output; the loss
(:mod:`lif.losses`) maps it and the labels to one value per pattern.

A training step sums the per-pattern losses of the batch, so every misclassified pattern
contributes one full tempotron update (the seed's summed BinaryLoss); with SGD this is
Gütig's rule, with heavy-ball momentum his momentum heuristic.

Metrics, per split (``train`` is evaluated with the weights at the end of each epoch):
``<split>/loss`` (mean per pattern), ``<split>/acc`` and ``<split>/acc_label_<label>``,
the accuracy over the patterns of one label (named as the data module names its labels);
``<split>/rate_layer_<i>``, spikes per neuron per step of layer i (0: the input, 1..: the
model's spiking layers), and ``<split>/spikes_per_pattern_layer_<i>``, its spikes per pattern;
``<split>/synaptic_events_per_pattern``, the sum over layers of spikes x fan-out (the weights a
spike reaches, :mod:`lif.models.activity`; for the ANN baselines their multiply-accumulates);
``<split>/readout_mean`` and ``<split>/readout_std``, the distribution of the readout scores
over patterns and outputs. ``train/online_loss`` and ``train/online_acc`` are averaged over the
epoch's batches while the weights change; ``train/seconds_per_epoch`` is the wall time of the
epoch's training, without the evaluation of the splits.
One output (binary) predicts label 1 iff readout >= v_th; several outputs predict the
output with the highest readout (a tie for the highest is an error).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence

import lightning as L
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy, MulticlassStatScores

from lif.data import SPLITS

# What :class:`Classifier` logs for each evaluated split (``<split>/acc``), besides one
# ``acc_label_<label>`` per label and one of each LAYER_METRICS per layer; and once per training epoch.
SPLIT_METRICS = ("acc", "loss", "readout_mean", "readout_std", "synaptic_events_per_pattern")
LAYER_METRICS = ("rate_layer_<i>", "spikes_per_pattern_layer_<i>")
ONLINE_METRICS = ("train/online_acc", "train/online_loss", "train/seconds_per_epoch")


def logs_metric(name: str, splits: Sequence[str], label_names: Sequence[str]) -> bool:
    """Whether :class:`Classifier` logs metric ``name`` when it evaluates ``splits`` of data whose
    labels are named ``label_names``."""
    split, _, metric = name.partition("/")
    if name in ONLINE_METRICS or split not in splits:
        return name in ONLINE_METRICS
    return (
        metric in SPLIT_METRICS
        or metric in {f"acc_label_{label}" for label in label_names}
        or any(re.fullmatch(pattern.replace("<i>", r"\d+"), metric) for pattern in LAYER_METRICS)
    )


def describe_metrics(splits: Sequence[str]) -> str:
    """The metrics :class:`Classifier` logs for ``splits``, in words (for error messages)."""
    per_split = ", ".join([*SPLIT_METRICS, "acc_label_<label>", *LAYER_METRICS])
    return f"<split>/{{{per_split}}} for splits {', '.join(splits)}; {', '.join(ONLINE_METRICS)}"


class Classifier(L.LightningModule):
    def __init__(
        self,
        net: nn.Module,
        loss: nn.Module,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable[..., torch.optim.lr_scheduler.LRScheduler] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.loss = loss
        self.make_optimizer = optimizer
        self.make_scheduler = scheduler
        self.num_classes = max(2, net.num_outputs)
        self.evaluation_splits = ["val"]
        self.label_names = [str(label) for label in range(self.num_classes)]
        self.online_loss = MeanMetric()
        self.online_acc = MulticlassAccuracy(self.num_classes, average="micro")
        # Keyed "<split>_split": a ModuleDict key may not shadow nn.Module.train.
        self.split_losses = nn.ModuleDict({f"{split}_split": MeanMetric() for split in SPLITS})
        self.split_scores = nn.ModuleDict(
            {f"{split}_split": MulticlassStatScores(self.num_classes, average=None) for split in SPLITS}
        )
        # Sums over an evaluation epoch, as plain floats: per layer (rates, spikes), synaptic events,
        # patterns, and the readout's moments.
        self.split_activity: dict[str, dict] = {}
        # perf_counter at the training epoch's start, and the seconds its evaluations took since.
        self.epoch_started: float | None = None
        self.evaluation_started: float | None = None
        self.evaluation_seconds = 0.0

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        self.evaluation_splits = list(getattr(datamodule, "evaluation_splits", ["val"]))
        self.label_names = list(getattr(datamodule, "label_names", None) or self.label_names)

    @staticmethod
    def predict(output, labels: Tensor) -> Tensor:
        """The predicted class of each pattern. Several outputs tied for the highest score (silent
        outputs of a spike-count readout, say) decide nothing: such a pattern counts as an error."""
        readout = output.readout.detach()
        if readout.shape[1] == 1:
            return (readout[:, 0] >= output.v_th).long()
        tied = (readout == readout.max(dim=1, keepdim=True).values).sum(dim=1) > 1
        return torch.where(tied, (labels + 1) % readout.shape[1], readout.argmax(dim=1))

    def run(self, batch: tuple[Tensor, ...]):
        """The model's output for a batch (spikes, labels[, raw sample]): the spikes, the raw
        sample or both, as the model declares (``inputs``)."""
        reads = getattr(self.net, "inputs", "spikes")
        if reads == "features":
            return self.net(batch[2])
        if reads == "spikes_and_features":
            return self.net(batch[0], batch[2])
        return self.net(batch[0])

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        labels = batch[1]
        output = self.run(batch)
        losses = self.loss(output, labels)
        # Updated every step, logged once per epoch: Lightning's self.log costs about a millisecond
        # a call, several times the tempotron's own step at small batch sizes.
        self.online_loss.update(losses.detach())
        self.online_acc.update(self.predict(output, labels), labels)
        loss = losses.sum()
        if not torch.isfinite(loss):  # fail the job (and its trial) instead of training on NaN
            raise FloatingPointError(f"training loss is {loss.item()} at epoch {self.current_epoch}, batch {batch_idx}")
        return loss

    def _clock(self) -> float:
        """perf_counter once the device has finished the work queued so far."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return time.perf_counter()

    def on_train_epoch_start(self) -> None:
        self.epoch_started, self.evaluation_seconds = self._clock(), 0.0

    def on_validation_epoch_start(self) -> None:
        if self.epoch_started is not None:  # an evaluation inside a training epoch: not its training time
            self.evaluation_started = self._clock()

    def on_train_epoch_end(self) -> None:
        self.log("train/online_loss", self.online_loss.compute())
        self.log("train/online_acc", self.online_acc.compute())
        self.online_loss.reset()
        self.online_acc.reset()
        if self.epoch_started is not None:
            self.log("train/seconds_per_epoch", self._clock() - self.epoch_started - self.evaluation_seconds)
            self.epoch_started = None

    def _evaluate(self, split: str, batch: tuple[Tensor, ...]) -> None:
        labels = batch[1]
        output = self.run(batch)
        self.split_losses[f"{split}_split"].update(self.loss(output, labels))
        self.split_scores[f"{split}_split"].update(self.predict(output, labels), labels)
        activity = self.split_activity.setdefault(
            split, {"rates": {}, "spikes": {}, "patterns": 0, "sum": 0.0, "squares": 0.0, "count": 0}
        )
        for layer, rate in output.rates().items():
            activity["rates"][layer] = activity["rates"].get(layer, 0.0) + float(rate.sum())
        # Outputs without spike counts or fan-outs log rates only.
        for layer, spikes in (output.spike_counts() if hasattr(output, "spike_counts") else {}).items():
            activity["spikes"][layer] = activity["spikes"].get(layer, 0.0) + float(spikes.double().sum())
        events = output.synaptic_events() if hasattr(output, "synaptic_events") else None
        if events is not None:
            activity["events"] = activity.get("events", 0.0) + float(events.double().sum())
        readout = output.readout.detach().double()
        activity["patterns"] += len(labels)
        activity["sum"] += float(readout.sum())
        activity["squares"] += float((readout**2).sum())
        activity["count"] += readout.numel()

    def _log_split(self, split: str) -> None:
        scores = self.split_scores[f"{split}_split"].compute()  # [classes, (tp, fp, tn, fn, support)]
        correct, support = scores[:, 0].float(), scores[:, 4].float()
        self.log(f"{split}/loss", self.split_losses[f"{split}_split"].compute())
        self.log(f"{split}/acc", correct.sum() / support.sum())
        for label in torch.nonzero(support).flatten().tolist():
            self.log(f"{split}/acc_label_{self.label_names[label]}", correct[label] / support[label])
        activity = self.split_activity.pop(split, None)
        if activity and activity["count"]:
            for layer, total in sorted(activity["rates"].items()):
                self.log(f"{split}/rate_layer_{layer}", total / activity["patterns"])
            for layer, total in sorted(activity["spikes"].items()):
                self.log(f"{split}/spikes_per_pattern_layer_{layer}", total / activity["patterns"])
            if "events" in activity:
                self.log(f"{split}/synaptic_events_per_pattern", activity["events"] / activity["patterns"])
            mean = activity["sum"] / activity["count"]
            self.log(f"{split}/readout_mean", mean)
            self.log(f"{split}/readout_std", max(activity["squares"] / activity["count"] - mean**2, 0.0) ** 0.5)
        self.split_losses[f"{split}_split"].reset()
        self.split_scores[f"{split}_split"].reset()

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(self.evaluation_splits[dataloader_idx], batch)

    def on_validation_epoch_end(self) -> None:
        for split in self.evaluation_splits:
            self._log_split(split)
        if self.evaluation_started is not None:
            self.evaluation_seconds += self._clock() - self.evaluation_started
            self.evaluation_started = None

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate("test", batch)

    def on_test_epoch_end(self) -> None:
        self._log_split("test")

    def configure_optimizers(self):
        optimizer = self.make_optimizer(params=self.parameters())
        if self.make_scheduler is None:
            return optimizer
        scheduler = self.make_scheduler(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
