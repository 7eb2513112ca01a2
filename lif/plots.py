"""Figures of a run (matplotlib, headless), and the callback that makes them.

Every model:
- learning curves: loss and accuracy per epoch, train and val;
- per-label accuracy: bars per split at the end;
- weights: histogram of each weight matrix at the start and at the end of training.
A tempotron:
- voltage traces: V(t) of a few patterns per class with the threshold v_th, the time of
  the maximum t_max, and the pattern's input spikes as a raster underneath;
- input rasters: example patterns (afferent against time), coloured by class.
A spiking network:
- layer rasters: the spikes of every layer (input, hidden, a spiking output) for one pattern per class;
- membrane traces: hidden neurons' voltages with their threshold, and the outputs' voltages;
- firing rates: per layer, the histogram of the neurons' rates (spikes per neuron per step)
  over the training patterns.

:class:`PlotCallback` writes them as PNGs into the job's folder at the end of fit (and
every N epochs when asked), logs them to W&B as images and records them as ``plot``
artifacts of the trial.
"""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display needed, none used

import lightning as L  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402
from lightning.pytorch.loggers import WandbLogger  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from torch import Tensor  # noqa: E402

from lif.models.network import Network  # noqa: E402

FIGURE_SIZE = (10.0, 6.0)  # inches; with DPI 100 every PNG is 1000 x 600 pixels
DPI = 100
CLASS_COLOURS = plt.get_cmap("tab10").colors


def colour(label: int):
    return CLASS_COLOURS[label % len(CLASS_COLOURS)]


def spike_points(inputs: Tensor, dt: float) -> tuple[Tensor, Tensor]:
    """(times in ms, afferent indices) of one pattern's spikes: spike times [N(, S)] or a raster [L, N]."""
    if inputs.dtype == torch.bool:
        steps, afferents = torch.nonzero(inputs, as_tuple=True)
        return steps.float() * dt, afferents
    times = inputs if inputs.dim() == 2 else inputs.unsqueeze(-1)
    afferents = torch.arange(times.shape[0]).unsqueeze(-1).expand_as(times)
    finite = torch.isfinite(times)
    return times[finite].float(), afferents[finite]


def examples_per_class(labels: Tensor, per_class: int, max_classes: int = 10) -> list[int]:
    """Indices of the first ``per_class`` patterns of each of the first ``max_classes`` labels."""
    chosen: list[int] = []
    for label in torch.unique(labels)[:max_classes].tolist():
        chosen += torch.nonzero(labels == label).flatten()[:per_class].tolist()
    return chosen


def voltage_traces(net, inputs: Tensor, labels: Tensor, label_names: list[str], per_class: int = 2) -> Figure:
    """V(t) of the output each pattern should drive (the only one for a binary tempotron)."""
    chosen = examples_per_class(labels, per_class, max_classes=4)
    with torch.no_grad():
        trace = net.voltage(inputs[chosen]).cpu()
        output = net(inputs[chosen])
    time = torch.arange(net.num_steps) * net.dt
    figure = plt.figure(figsize=FIGURE_SIZE, dpi=DPI)
    grid = figure.add_gridspec(2, len(chosen), height_ratios=(2, 1), hspace=0.05, wspace=0.25)
    for column, index in enumerate(chosen):
        label = int(labels[index])
        out = 0 if net.num_outputs == 1 else label
        top = figure.add_subplot(grid[0, column])
        top.plot(time, trace[column, :, out], color=colour(label), linewidth=1)
        top.axhline(net.v_th, color="black", linestyle="--", linewidth=0.8)
        t_max, v_max = float(output.t_max[column, out]), float(output.v_max[column, out])
        top.plot([t_max], [v_max], marker="v", color="red", markersize=6)
        top.set_title(f"label {label_names[label]}", fontsize=9)
        top.tick_params(labelbottom=False, labelsize=7)
        if column == 0:
            top.set_ylabel("V (output of its class)" if net.num_outputs > 1 else "V")
        bottom = figure.add_subplot(grid[1, column], sharex=top)
        times, afferents = spike_points(inputs[index].cpu(), net.dt)
        bottom.scatter(times, afferents, s=1, color=colour(label))
        bottom.axvline(t_max, color="red", linewidth=0.6)
        bottom.set_xlim(0, net.num_steps * net.dt)
        bottom.tick_params(labelsize=7)
        bottom.set_xlabel("t (ms)", fontsize=8)
        if column == 0:
            bottom.set_ylabel("afferent")
    figure.suptitle("voltage traces: threshold dashed, maximum marked; input spikes below")
    return figure


def input_rasters(inputs: Tensor, labels: Tensor, label_names: list[str], dt: float, duration: float) -> Figure:
    """Example patterns as afferent-against-time rasters, one panel each, coloured by class."""
    chosen = examples_per_class(labels, per_class=2, max_classes=4)
    figure, axes = plt.subplots(1, len(chosen), figsize=FIGURE_SIZE, dpi=DPI, sharey=True, squeeze=False)
    for axis, index in zip(axes[0], chosen):
        label = int(labels[index])
        times, afferents = spike_points(inputs[index].cpu(), dt)
        axis.scatter(times, afferents, s=1, color=colour(label))
        axis.set_xlim(0, duration)
        axis.set_title(f"label {label_names[label]}", fontsize=9)
        axis.set_xlabel("t (ms)", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0][0].set_ylabel("afferent")
    figure.suptitle("input spikes of example patterns")
    return figure


def learning_curves(history: dict[int, dict[str, float]]) -> Figure:
    """Loss and accuracy per epoch for every split that has them."""
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=FIGURE_SIZE, dpi=DPI)
    epochs = sorted(history)
    for split, style in (("train", "-"), ("val", "--")):
        for axis, name in ((loss_axis, "loss"), (accuracy_axis, "acc")):
            points = [(epoch, history[epoch][f"{split}/{name}"]) for epoch in epochs if f"{split}/{name}" in history[epoch]]
            if points:
                axis.plot(*zip(*points), style, marker="." if len(points) < 30 else None, label=split)
    loss_axis.set(xlabel="epoch", ylabel="loss (mean per pattern)", title="loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for axis in (loss_axis, accuracy_axis):
        if axis.lines:
            axis.legend()
        axis.grid(alpha=0.3)
    return figure


def per_label_accuracy(metrics: dict[str, float], label_names: list[str]) -> Figure:
    """Bars of <split>/acc_label_<label> for every split and label."""
    figure, axis = plt.subplots(figsize=FIGURE_SIZE, dpi=DPI)
    splits = [split for split in ("train", "val", "test") if any(f"{split}/acc_label_{name}" in metrics for name in label_names)]
    width = 0.8 / max(len(splits), 1)
    for number, split in enumerate(splits):
        values = [metrics.get(f"{split}/acc_label_{name}", float("nan")) for name in label_names]
        axis.bar([i + number * width for i in range(len(label_names))], values, width=width, label=split)
    axis.set_xticks([i + width * (len(splits) - 1) / 2 for i in range(len(label_names))], label_names)
    axis.set(xlabel="label", ylabel="accuracy", ylim=(0, 1.05), title="accuracy per label")
    if splits:
        axis.legend()
    return figure


def weight_histogram(initial: dict[str, Tensor], final: dict[str, Tensor]) -> Figure:
    """One panel per weight matrix (at most four): its values at the start and at the end."""
    names = list(initial)[:4]
    figure, axes = plt.subplots(1, len(names), figsize=FIGURE_SIZE, dpi=DPI, squeeze=False)
    for axis, name in zip(axes[0], names):
        values = torch.cat([initial[name].flatten(), final[name].flatten()])
        bins = torch.linspace(float(values.min()), float(values.max()) + 1e-12, 60).tolist()
        axis.hist(initial[name].flatten().tolist(), bins=bins, alpha=0.6, label="start")
        axis.hist(final[name].flatten().tolist(), bins=bins, alpha=0.6, label="end")
        axis.set(xlabel="weight", ylabel="count", title=name if len(names) > 1 else "weight distribution")
        axis.legend()
    return figure


def weight_matrices(net: torch.nn.Module) -> dict[str, Tensor]:
    """Every weight matrix of a model by name (a copy on the CPU)."""
    return {name: value.detach().cpu().clone() for name, value in net.named_parameters() if name.endswith("weight")}


def layer_rasters(net, inputs: Tensor, labels: Tensor, label_names: list[str]) -> Figure:
    """One column per example pattern (one per class), one row per layer: input, hidden layers, a spiking output."""
    chosen = examples_per_class(labels, per_class=1, max_classes=4)
    with torch.no_grad():
        output = net(inputs[chosen], record=True)
    rows = ["input"] + [f"layer {number}" for number in range(1, len(output.spikes) + 1)]
    figure, axes = plt.subplots(len(rows), len(chosen), figsize=FIGURE_SIZE, dpi=DPI, sharex=True, squeeze=False)
    duration = net.num_steps * net.dt
    for column, index in enumerate(chosen):
        label = int(labels[index])
        points = [spike_points(inputs[index].cpu(), net.dt)] + [
            spike_points(spikes[column].cpu() > 0, net.dt) for spikes in output.spikes
        ]
        sizes = [net.num_afferents] + [spikes.shape[2] for spikes in output.spikes]
        for row, ((times, neurons), size) in enumerate(zip(points, sizes)):
            axis = axes[row][column]
            axis.scatter(times, neurons, s=2, color=colour(label))
            axis.set_xlim(0, duration)
            axis.set_ylim(-0.5, size - 0.5)
            axis.tick_params(labelsize=7)
            if column == 0:
                axis.set_ylabel(rows[row], fontsize=8)
        axes[0][column].set_title(f"label {label_names[label]}", fontsize=9)
        axes[-1][column].set_xlabel("t (ms)", fontsize=8)
    figure.suptitle("spikes of every layer (neuron against time); the last hidden layer feeds the output")
    return figure


def membrane_traces(net, inputs: Tensor, labels: Tensor, label_names: list[str], neurons: int = 5) -> Figure:
    """Top: voltages of a few neurons of the first hidden layer with the threshold; bottom: the outputs' voltages."""
    chosen = examples_per_class(labels, per_class=1, max_classes=3)
    with torch.no_grad():
        output = net(inputs[chosen], record=True)
    time = torch.arange(net.num_steps) * net.dt
    figure, axes = plt.subplots(2, len(chosen), figsize=FIGURE_SIZE, dpi=DPI, sharex=True, squeeze=False)
    for column, index in enumerate(chosen):
        label = int(labels[index])
        top, bottom = axes[0][column], axes[1][column]
        if len(output.voltages) > 1:
            hidden = output.voltages[0][column].cpu()  # [L, N]
            fired = torch.nonzero(output.spikes[0][column].sum(dim=0) > 0).flatten()
            shown = (fired if len(fired) else torch.arange(hidden.shape[1]))[:neurons]
            for neuron in shown.tolist():
                top.plot(time, hidden[:, neuron], linewidth=0.8)
            top.axhline(net.hidden[0].neuron.v_th, color="black", linestyle="--", linewidth=0.8)
        top.set_title(f"label {label_names[label]}", fontsize=9)
        outputs = output.voltages[-1][column].cpu()  # [L, O]
        for out in range(min(outputs.shape[1], 10)):
            target = net.num_outputs == 1 or out == label
            bottom.plot(time, outputs[:, out], linewidth=1.4 if target else 0.6, color=colour(out) if net.num_outputs > 1 else "black",
                        alpha=1.0 if target else 0.5)
        if net.num_outputs == 1 or net.output == "spiking":
            bottom.axhline(net.v_th, color="black", linestyle="--", linewidth=0.8)
        bottom.set_xlabel("t (ms)", fontsize=8)
        for axis in (top, bottom):
            axis.tick_params(labelsize=7)
        if column == 0:
            top.set_ylabel("V, hidden layer 1 (spiking neurons)", fontsize=8)
            bottom.set_ylabel("V, outputs (the label's bold)", fontsize=8)
    figure.suptitle("membrane traces: threshold dashed")
    return figure


def firing_rates(net, inputs: Tensor, max_patterns: int = 512) -> Figure:
    """Histogram per layer of the neurons' rates (spikes per step, averaged over patterns and time)."""
    with torch.no_grad():
        output = net(inputs[:max_patterns], record=True)
    layers = [spikes.mean(dim=(0, 1)).cpu() for spikes in output.spikes]
    figure, axes = plt.subplots(1, max(len(layers), 1), figsize=FIGURE_SIZE, dpi=DPI, squeeze=False)
    for number, (axis, rates) in enumerate(zip(axes[0], layers), start=1):
        silent = int((rates == 0).sum())
        axis.hist(rates.tolist(), bins=30, color=colour(number))
        axis.set_title(f"layer {number}: mean {float(rates.mean()):.3g}, {silent} of {len(rates)} silent", fontsize=9)
        axis.set_xlabel("spikes per neuron per step", fontsize=8)
        axis.tick_params(labelsize=7)
    if not layers:
        axes[0][0].text(0.5, 0.5, "no spiking layer", ha="center", va="center")
    axes[0][0].set_ylabel("neurons")
    figure.suptitle(f"firing rates over {min(len(inputs), max_patterns)} training patterns")
    return figure


class PlotCallback(Callback):
    """Writes the figures above as PNGs into ``dirpath`` (the job's folder by default) at the
    end of fit, and every ``every_n_epochs`` epochs when set; logs them to W&B and records them
    as ``plot`` artifacts of the trial."""

    def __init__(self, dirpath: str | None = None, every_n_epochs: int | None = None, patterns_per_class: int = 2) -> None:
        if every_n_epochs is not None and every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1 or null, got {every_n_epochs}")
        self.dirpath = dirpath
        self.every_n_epochs = every_n_epochs
        self.patterns_per_class = patterns_per_class
        self.history: dict[int, dict[str, float]] = {}
        self.initial_weights: dict[str, Tensor] = {}
        self.seconds = 0.0  # time spent drawing and writing

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.initial_weights = weight_matrices(pl_module.net)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        fresh = {f"{split}/" for split in getattr(pl_module, "evaluation_splits", ["val"])}
        values = {name: float(value) for name, value in trainer.callback_metrics.items() if name[: name.find("/") + 1] in fresh}
        self.history.setdefault(trainer.current_epoch, {}).update(values)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.write(trainer, pl_module, suffix=f"_epoch{trainer.current_epoch:03d}")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.write(trainer, pl_module)

    def figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Figure]:
        training = pl_module.net.training
        pl_module.net.eval()  # the network as it is evaluated (no dropout)
        try:
            return self._figures(trainer, pl_module)
        finally:
            pl_module.net.train(training)

    def _figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, Figure]:
        net, datamodule = pl_module.net, trainer.datamodule
        inputs, labels = datamodule.splits["train"].tensors[:2]
        inputs = inputs.to(next(net.parameters()).device)
        names = list(getattr(pl_module, "label_names", [str(i) for i in range(int(labels.max()) + 1)]))
        metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
        if getattr(net, "inputs", "spikes") != "spikes":  # models of the raw sample: no traces of their own yet
            figures = {}
        elif isinstance(net, Network):
            figures = {
                "layer_rasters": layer_rasters(net, inputs, labels, names),
                "membrane_traces": membrane_traces(net, inputs, labels, names),
                "firing_rates": firing_rates(net, inputs),
            }
        else:
            figures = {
                "voltage_traces": voltage_traces(net, inputs, labels, names, self.patterns_per_class),
                "input_rasters": input_rasters(inputs, labels, names, net.dt, net.num_steps * net.dt),
            }
        return {
            **figures,
            "learning_curves": learning_curves(self.history),
            "per_label_accuracy": per_label_accuracy(metrics, names),
            "weights": weight_histogram(self.initial_weights, weight_matrices(net)),
        }

    def write(self, trainer: L.Trainer, pl_module: L.LightningModule, suffix: str = "") -> list[Path]:
        started = time.perf_counter()
        folder = Path(self.dirpath or Path(trainer.default_root_dir) / "plots")
        folder.mkdir(parents=True, exist_ok=True)
        recorder = next((callback for callback in trainer.callbacks if hasattr(callback, "add_artifact")), None)
        paths = []
        for name, figure in self.figures(trainer, pl_module).items():
            path = folder / f"{name}{suffix}.png"
            figure.savefig(path)
            plt.close(figure)
            paths.append(path)
            for logger in trainer.loggers:
                if isinstance(logger, WandbLogger):
                    logger.log_image(key=f"plots/{name}", images=[str(path)], step=trainer.global_step)
            if recorder is not None:
                recorder.add_artifact("plot", str(path))
        self.seconds += time.perf_counter() - started
        return paths
