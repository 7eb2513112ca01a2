"""A multi-layer spiking network on the time grid: input -> hidden spiking layers -> output layer.

Each hidden layer l projects its input through weights W_l [N_{l-1}, N_l] and runs a spiking
neuron model (:mod:`lif.stepped`, with reset) over the grid t_k = k dt, k = 0 .. L-1 (ms):

    current_l[k] = (input spikes of step k) @ W_l          all steps at once, before the time loop
    s_l[k], V_l[k] = neuron step(current_l[k] + s_l[k-1] @ R_l)     R_l: within-layer weights (recurrent)

*Projection first*: a feed-forward layer's currents for every step are one operation, before
the time loop, by the cheapest exact path (:mod:`lif.stepped.projection`): input spike times
are events, one weight row scattered per spike with the phase factors that make spikes between
grid points exact; rasters and hidden spikes are projected event-driven (one weight row per
spike) when sparse, by one matrix product otherwise. Only the recurrence is sequential, and the
time loop of each layer is the compiled scan on the CPU (:mod:`lif.stepped.layer`). The output
layer is

    output = li        V_o(t) = v_rest + sum_j W[j, o] sum_spikes K(t - t_j): non-spiking leaky
                       integrators with the project's PSP kernel K, i.e. a layer of tempotrons on
                       the hidden spikes, computed with the exact filter (compiled on the CPU,
                       :func:`lif.stepped.layer.filter_layer`; :func:`lif.exact.filter_currents` elsewhere);
    output = spiking   the hidden layers' neuron model (for the spike readouts),

and a readout (:mod:`lif.models.readouts`) turns its voltages or spikes into one score per
output. With no hidden layer, an ``li`` output read out at its maximum *is* the tempotron, and
runs on the tempotron's exact compiled path (:func:`lif.exact.max_voltage`).
With one feed-forward hidden layer on a sparse raster and ``li`` outputs, the two layers run
in one compiled pass per pattern on the CPU (:mod:`lif.stepped.fused`: the same spikes, voltages
and gradients, without the [B, L, N] currents and gradients between them; the hidden voltages
are not kept, so ``voltages[0]`` is None there, and ``record`` takes the layer-by-layer path).
Layer by layer too, the hidden layers' voltages are kept only with ``record`` (None otherwise:
no readout or loss reads them, and the compiled scan's backward computes them again).

Weights start as N(init_mean, (init_gain / sqrt(fan_in))^2); recurrent ones as
N(0, (recurrent_gain / sqrt(N_l))^2). Training is backpropagation through time with the
spike's surrogate derivative: the compiled scan's backward on the CPU, autograd through the time
loop elsewhere (the same gradients). ``dropout`` p > 0 drops each
hidden spike on its way to the next layer with probability p while training (the others
count 1/(1-p)); the layer's own recurrence and its recorded spikes are unaffected.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lif import exact
from lif.env import num_steps
from lif.errors import ConfigError, require
from lif.exact.grid import check_raster
from lif.kernels import ExponentialSumKernel
from lif.models.activity import SpikeActivity
from lif.models.readouts import check_readout, decision_threshold, read_out
from lif.stepped.neuron import SpikingNeuron
from lif.stepped.projection import project, project_events
from lif.stepped.fused import layer_and_readout
from lif.stepped.layer import filter_layer, run_layer

OUTPUTS = ("li", "spiking")
LAYER_KEYS = ("size", "recurrent", "init_gain", "init_mean", "neuron")


@dataclass
class NetworkOutput(SpikeActivity):
    """What a network computed for a batch.

    ``readout`` [B, O]: the score of each output; ``v_th``: the decision threshold of a single output;
    ``spikes`` [B, L, N] of every spiking layer (hidden layers, then a spiking output), numbered from 1:
    numbers carrying the surrogate gradient, or, from the one pass (:mod:`lif.stepped.fused`),
    bools without gradient, whose counts per neuron [B, N] ``counts`` holds by layer (with the
    gradient: a loss on firing rates takes :meth:`spiking_layer_counts`);
    ``voltages`` [B, L, N] of every layer (the output's is None on the tempotron fast path, the
    hidden layers' unless the forward was asked to ``record`` them);
    ``inputs``: the network's inputs and ``dt`` its step (ms), from which the spikes of each input
    afferent in each pattern (layer 0) are counted when the metrics ask (not in a training step);
    ``num_steps``: L; ``fan_out``: the network's (:attr:`Network.fan_out`). ``spike_counts``,
    ``rates`` and ``synaptic_events`` by layer: :class:`lif.models.activity.SpikeActivity`.
    """

    readout: Tensor
    v_th: float
    spikes: list[Tensor] = field(default_factory=list)
    voltages: list[Tensor | None] = field(default_factory=list)
    counts: dict[int, Tensor] = field(default_factory=dict)
    inputs: Tensor | None = None
    dt: float = 1.0
    num_steps: int = 1
    fan_out: dict[int, int] | None = None

    def neuron_spike_counts(self) -> dict[int, Tensor]:
        """The spikes of each neuron in each pattern [B, N], by layer: 0 the input, 1.. the spiking layers."""
        counts = {} if self.inputs is None else {0: exact.spike_counts(self.inputs, self.dt, self.num_steps)}
        return counts | self.spiking_layer_counts()

    def spiking_layer_counts(self) -> dict[int, Tensor]:
        """The spikes of each neuron in each pattern [B, N] of the spiking layers 1.., with the surrogate gradient."""
        return {number: self.counts[number] if number in self.counts else spikes.sum(dim=1)
                for number, spikes in enumerate(self.spikes, start=1)}


def project_spike_times(times: Tensor, weight: Tensor, kernel: ExponentialSumKernel, steps: int, dt: float) -> Tensor:
    """Input currents per kernel term [B, L, N_out, C] of spike times [B, N_in(, S)] (ms), gridded with
    the phases of ``kernel`` (the receiving neurons'): :func:`lif.exact.input_currents`."""
    gridded = exact.grid_spikes(times, kernel, dt, steps, weight.dtype)
    return exact.input_currents(gridded, weight, steps).transpose(1, 2)


def normal(shape: tuple[int, ...], mean: float, std: float) -> nn.Parameter:
    return nn.Parameter(torch.randn(shape) * std + mean)


class SpikingLayer(nn.Module):
    """Weights from the layer below (and, recurrent, within the layer) and a spiking neuron model."""

    def __init__(
        self, num_inputs: int, size: int, neuron: SpikingNeuron, recurrent: bool, init_gain: float, init_mean: float,
        recurrent_gain: float,
    ) -> None:
        super().__init__()
        self.neuron = neuron
        self.weight = normal((num_inputs, size), init_mean, init_gain / math.sqrt(num_inputs))
        self.recurrent_weight = normal((size, size), 0.0, recurrent_gain / math.sqrt(size)) if recurrent else None

    def forward(
        self, current: Tensor, direct: Tensor | None = None, keep_voltages: bool = True
    ) -> tuple[Tensor, Tensor | None]:
        """(spikes, voltages) [B, L, N] for input currents [B, L, N] of every step (voltages None
        unless ``keep_voltages``)."""
        return run_layer(self.neuron, current, direct, self.recurrent_weight, keep_voltages)


class Network(nn.Module):
    """``hidden``: the hidden layers, input to output: a size each, or a mapping
    {size, recurrent, init_gain, init_mean, neuron: {overrides of the neuron's settings}}.
    ``neuron``: a factory of the hidden layers' neuron model (the ``neuron`` config group, partial).
    ``output``: li | spiking; ``readout``: see :mod:`lif.models.readouts`; ``dropout``: of hidden spikes."""

    def __init__(
        self,
        num_afferents: int,
        neuron: Callable[..., SpikingNeuron],
        kernel: ExponentialSumKernel,
        hidden: Sequence[int | Mapping] = (120,),
        num_outputs: int = 2,
        recurrent: bool = False,
        output: str = "li",
        readout: str = "max",
        smooth_max_beta: float = 10.0,
        T: float = 500.0,
        dt: float = 1.0,
        v_th: float = 1.0,
        v_rest: float = 0.0,
        init_gain: float = 1.0,
        init_mean: float = 0.0,
        recurrent_gain: float = 0.5,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        require(num_afferents >= 1, "num_afferents", "an integer >= 1", num_afferents)
        require(isinstance(num_outputs, int) and num_outputs >= 1, "num_outputs", "an integer >= 1", num_outputs)
        require(output in OUTPUTS, "output", " | ".join(OUTPUTS), output)
        check_readout(readout, spiking_output=output == "spiking")
        require(smooth_max_beta > 0, "smooth_max_beta", "a sharpness > 0 (per unit of voltage)", smooth_max_beta)
        require(init_gain >= 0, "init_gain", "a weight scale >= 0", init_gain)
        require(recurrent_gain >= 0, "recurrent_gain", "a weight scale >= 0", recurrent_gain)
        require(0 <= dropout < 1, "dropout", "a probability in [0, 1)", dropout)
        require(
            isinstance(hidden, Sequence) and not isinstance(hidden, str), "hidden", "a list of layer sizes such as [120]", hidden
        )
        self.kernel = kernel
        self.dt = float(dt)
        self.num_steps = num_steps(T, dt)
        self.v_th = float(v_th)
        self.v_rest = float(v_rest)
        self.output = output
        self.readout = readout
        self.smooth_max_beta = float(smooth_max_beta)
        defaults = {"recurrent": recurrent, "init_gain": init_gain, "init_mean": init_mean, "neuron": {}}
        layers, width = [], num_afferents
        for number, entry in enumerate(hidden, start=1):
            settings = layer_settings(entry, defaults, f"hidden[{number - 1}]")
            layer_neuron = build_neuron(neuron, settings["neuron"], f"hidden[{number - 1}].neuron")
            layers.append(
                SpikingLayer(width, settings["size"], layer_neuron, settings["recurrent"], settings["init_gain"],
                             settings["init_mean"], recurrent_gain)
            )
            width = settings["size"]
        self.hidden = nn.ModuleList(layers)
        self.dropout = nn.Dropout(dropout)
        if output == "spiking":
            self.output_layer = SpikingLayer(width, num_outputs, build_neuron(neuron, {}, "neuron"), False, init_gain,
                                             init_mean, recurrent_gain)
            self.weight = self.output_layer.weight
        else:
            self.output_layer = None
            self.weight = normal((width, num_outputs), init_mean, init_gain / math.sqrt(width))

    @property
    def num_afferents(self) -> int:
        return self.hidden[0].weight.shape[0] if len(self.hidden) else self.weight.shape[0]

    @property
    def num_outputs(self) -> int:
        return self.weight.shape[1]

    @property
    def num_spiking_layers(self) -> int:
        """The hidden layers, and the output layer when it spikes."""
        return len(self.hidden) + (self.output == "spiking")

    @property
    def fan_out(self) -> dict[int, int]:
        """Weights one spike of each layer reaches (0 the input, 1.. the spiking layers): the next
        layer's width (the output's for the last hidden layer), plus the layer's own width when it is
        recurrent; 0 for a spiking output, whose spikes leave the network."""
        widths = [layer.weight.shape[1] for layer in self.hidden] + [self.num_outputs]
        fan_out = {0: widths[0]}
        for number, layer in enumerate(self.hidden, start=1):
            recurrent = 0 if layer.recurrent_weight is None else layer.recurrent_weight.shape[0]
            fan_out[number] = widths[number] + recurrent
        if self.output == "spiking":
            fan_out[len(self.hidden) + 1] = 0
        return fan_out

    def forward(self, inputs: Tensor, record: bool = False) -> NetworkOutput:
        """Readout scores (and every layer's spikes and voltages) for inputs: spike times
        [B, N_in(, S)] in ms or a bool raster [B, L, N_in]. ``record``: also the hidden layers'
        voltage traces, and the output layer's on the tempotron fast path (plots)."""
        if exact.is_raster(inputs):
            check_raster(inputs, self.num_steps)
        threshold = decision_threshold(self.readout, self.v_th, self.num_steps, self.dt)
        activity = {"inputs": inputs, "dt": self.dt, "num_steps": self.num_steps, "fan_out": self.fan_out}
        if not len(self.hidden) and self.output == "li" and self.readout == "max" and not record:
            v_max, _ = exact.max_voltage(inputs, self.weight, self.kernel, self.dt, self.num_steps, self.v_rest)
            return NetworkOutput(v_max, threshold, [], [None], **activity)
        fused = None if record else self.fused(inputs)
        if fused is not None:
            hidden_spikes, hidden_counts, out_voltages, peaks = fused
            out_voltages = self.from_rest(out_voltages)
            if self.readout == "max":  # the pass's own maxima over time (torch's max over time: ~1 ms a step)
                score = self.from_rest(peaks)
            else:
                score = read_out(self.readout, out_voltages, None, self.dt, self.smooth_max_beta)
            return NetworkOutput(score, threshold, [hidden_spikes], [None, out_voltages], counts={1: hidden_counts},
                                 **activity)
        spikes, voltages = [], []
        below = inputs
        for layer in self.hidden:
            current, direct = self.currents(below, layer.weight, layer.neuron, first=not spikes)
            layer_spikes, layer_voltages = layer(current, direct, keep_voltages=record)
            spikes.append(layer_spikes)
            voltages.append(layer_voltages)
            below = self.dropout(layer_spikes)
        first = not spikes
        if self.output == "spiking":
            current, direct = self.currents(below, self.weight, self.output_layer.neuron, first)
            out_spikes, out_voltages = self.output_layer(current, direct)
            spikes.append(out_spikes)
        else:
            out_spikes = None
            out_voltages = self.filtered(below, first)
        voltages.append(out_voltages)
        score = read_out(self.readout, out_voltages, out_spikes, self.dt, self.smooth_max_beta)
        return NetworkOutput(score, threshold, spikes, voltages, **activity)

    def fused(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
        """(hidden spikes as bools, their counts, output voltages from rest, their maxima over time) of a raster through one feed-forward hidden
        layer and ``li`` outputs in one compiled pass (:func:`lif.stepped.fused.layer_and_readout`),
        or None where the layer-by-layer path runs (other shapes, dropout while training)."""
        if len(self.hidden) != 1 or self.output != "li" or not exact.is_raster(inputs):
            return None
        layer = self.hidden[0]
        if layer.recurrent_weight is not None or (self.training and self.dropout.p > 0):
            return None
        return layer_and_readout(inputs, layer.weight, layer.neuron, self.weight, self.kernel, self.dt)

    def currents(self, below: Tensor, weight: Tensor, neuron: SpikingNeuron, first: bool) -> tuple[Tensor, Tensor | None]:
        """A spiking layer's input currents [B, L, N] (and direct jumps) from the data (first) or the spikes below.

        Input spike times are events: each enters at its grid step with its phases, which the
        neuron's drive (linear in the per-term currents) mixes into one factor for the current and
        one for the direct jump; the weights are then scattered once per spike and factor."""
        if not first or exact.is_raster(below):
            return project(below, weight), None
        kernel = neuron.kernel()
        gridded = exact.grid_spikes(below, kernel, self.dt, self.num_steps, weight.dtype)
        basis = torch.eye(len(kernel.time_constants), dtype=weight.dtype, device=weight.device)
        current_factors, direct_factors = neuron.drive(basis)  # [C] each: the drive of each term alone
        current = project_events(gridded.step, torch.einsum("c,cbis->bis", current_factors, gridded.phase), weight,
                                 self.num_steps)
        if direct_factors is None:
            return current, None
        direct_values = torch.einsum("c,cbis->bis", direct_factors, gridded.phase)
        return current, project_events(gridded.step, direct_values, weight, self.num_steps)

    def filtered(self, below: Tensor, first: bool) -> Tensor:
        """The li output's voltage trace [B, L, O]: the input currents filtered by the kernel, exactly."""
        if first and not exact.is_raster(below):
            terms = project_spike_times(below, self.weight, self.kernel, self.num_steps, self.dt)
        else:
            current = project(below, self.weight)
            voltages = filter_layer(current, self.kernel, self.dt)
            if voltages is not None:
                return self.from_rest(voltages)
            terms = current.unsqueeze(-1).expand(*current.shape, len(self.kernel.time_constants))
        return self.from_rest(exact.filter_currents(terms.transpose(1, 2), self.kernel, self.dt).transpose(1, 2))

    def from_rest(self, voltages: Tensor) -> Tensor:
        """Voltages measured from rest as voltages: v_rest added (a pass over [B, L, O] only when it is not 0)."""
        return voltages + self.v_rest if self.v_rest else voltages

    def extra_repr(self) -> str:
        return (
            f"num_outputs={self.num_outputs}, output={self.output}, readout={self.readout}, kernel={self.kernel}, "
            f"dt={self.dt}, num_steps={self.num_steps}, v_th={self.v_th}"
        )


def layer_settings(entry: int | Mapping, defaults: dict, name: str) -> dict:
    """One hidden layer's settings: a size, or a mapping of settings over the network's defaults."""
    if isinstance(entry, Mapping):
        unknown = sorted(set(entry) - set(LAYER_KEYS))
        require(not unknown, name, f"a size or a mapping of {', '.join(LAYER_KEYS)}", f"keys {unknown}")
        require("size" in entry, name, "a mapping with a size", dict(entry))
        settings = {**defaults, **entry}
    else:
        settings = {**defaults, "size": entry}
    size = settings["size"]
    require(isinstance(size, int) and not isinstance(size, bool) and size >= 1, f"{name}.size" if isinstance(entry, Mapping) else name,
            "a layer size, an integer >= 1", size)
    require(settings["init_gain"] >= 0, f"{name}.init_gain", "a weight scale >= 0", settings["init_gain"])
    require(isinstance(settings["neuron"], Mapping), f"{name}.neuron", "a mapping of neuron settings", settings["neuron"])
    return settings


def build_neuron(factory: Callable[..., SpikingNeuron], overrides: Mapping, name: str) -> SpikingNeuron:
    """A fresh neuron module (its own time constants) from the neuron group's factory."""
    try:
        neuron = factory(**dict(overrides))
    except ConfigError as error:
        raise error.within(name) from None
    except TypeError as error:
        raise ConfigError(name, "settings of the chosen neuron model", str(error)) from None
    require(isinstance(neuron, SpikingNeuron), name, "a spiking neuron model (neuron group: lif, cuba, alif)", type(neuron).__name__)
    return neuron

