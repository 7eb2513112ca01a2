"""A spiking layer on sparse input and the leaky-integrator output above it, in one compiled pass.

For a network input -> one spiking layer -> ``li`` outputs, :func:`layer_and_readout` returns
the same hidden spikes s [B, L, N] (as bools) and output voltages from rest V [B, L, O] as the
layer by layer path (:func:`lif.stepped.projection.project`, :func:`lif.stepped.layer.run_layer`,
:func:`lif.stepped.layer.filter_layer`), each neuron's spike count sum_k s[k] (what a loss on
firing rates needs: the spikes themselves carry no gradient here), each output's maximum over
time max_k V_o[k] (the ``max`` readout's, at its first step, as torch.max picks), and the same
weight gradients:

    I[k] = x[k] @ W,   s[k], u[k] = neuron scan of I,   V_o[k] = sum_c coef_c A_c[k],
    A_c[k] = d_c A_c[k-1] + (s[k] @ W_out)_o

but one pattern at a time (:func:`lif.stepped.compiled.readout_forward`), so that a pattern's
currents, voltages and output currents stay in the core's cache instead of crossing memory as
[B, L, N] tensors between kernels: the input rows add one weight row per input spike, each
hidden spike adds one row of W_out (the hidden spikes found as the input's are, a 64-bit word of
bytes at a time, and only their bytes written out), and only each output's peak step and the
input rows are kept. The backward (:func:`lif.stepped.compiled.readout_backward`) runs each
pattern's scan again for its spikes and voltages from the kept rows (a pattern whose rows did not fit their slot, :func:`row_capacity`,
has its raster searched again), takes the gradient reaching the spikes from the outputs as the
output filter run backwards in the hidden space (one row of W_out^T per nonzero dL/dV: a
max-over-time readout has one per output, so the skinny [B L, N] x [N, O] products of the
layer-by-layer path disappear), and accumulates both weight gradients per spike.

It applies on the CPU in float32/float64 to a feed-forward layer with a compiled scan
(:func:`lif.stepped.layer.scan_constants`) whose inputs need no gradient and are sparse enough for
the event-driven projection (:func:`lif.stepped.projection.sparse_fraction`); elsewhere
:func:`layer_and_readout` returns None and the caller takes the layer-by-layer path.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from lif.exact.compiled import raster_counts
from lif.kernels import ExponentialSumKernel
from lif.stepped import compiled
from lif.stepped.layer import ScanConstants, compiled_constants, filter_constants, typed
from lif.stepped.neuron import Neuron
from lif.stepped.projection import WORD_SCAN_BELOW, compressed_rows, sparse_fraction


def raster_bytes(
    inputs: Tensor, word_scan: bool, dtype: torch.dtype, find_rows: bool = True
) -> tuple[np.ndarray, np.ndarray, tuple[Tensor, Tensor, Tensor]]:
    """What the compiled pass reads of inputs [B, L, N_in]: a sparse bool raster's bytes and 64-bit
    words (each pattern's spikes found by the thread that runs it) and empty rows; else empty
    bytes and the compressed rows of all patterns (:func:`lif.stepped.projection.compressed_rows`,
    one entry at a time; only when ``find_rows``)."""
    no_rows = tuple(torch.empty(0, dtype=kind) for kind in (torch.int64, torch.int64, dtype))
    if inputs.dtype == torch.bool and word_scan:
        flat = inputs.detach().contiguous().numpy().reshape(-1).view(np.uint8)
        return flat, flat[: flat.size // 8 * 8].view(np.uint64), no_rows
    nothing = np.empty(0, dtype=np.uint8)
    rows = compressed_rows(inputs.detach().reshape(-1, inputs.shape[-1]), dtype, word_scan=False) if find_rows else no_rows
    return nothing, nothing.view(np.uint64), rows


_ONES: dict[np.dtype, np.ndarray] = {}


def ones(length: int, dtype: np.dtype) -> np.ndarray:
    """``length`` ones of ``dtype``, the values of spike rows: one array, grown when needed and
    never written (a fresh array per call is written page by page: hundreds of page faults a step)."""
    kept = _ONES.get(dtype)
    if kept is None or kept.size < length:
        kept = _ONES[dtype] = np.ones(length, dtype=dtype)
    return kept[:length]


class LayerAndReadout(torch.autograd.Function):
    """(hidden spikes [B, L, N] as bools, their counts per pattern and neuron [B, N], output voltages
    from rest [B, L, O], their maxima over time [B, O]) of inputs [B, L, N_in] through W [N_in, N],
    the layer's neuron (its compiled constants) and W_out [N, O] into leaky integrators with the
    kernel sum_c coef_c exp(-t / tau_c) (coefficients, grid decays). The spikes carry no gradient;
    the counts do (a loss on firing rates: dL/ds[k, n] = dL/dcount[n] at every step). ``word_scan``:
    find a bool raster's spikes per pattern, keeping up to ``row_capacity`` of each pattern's for
    the backward (0: none kept)."""

    @staticmethod
    def forward(
        ctx, inputs: Tensor, weight: Tensor, output_weight: Tensor, constants: ScanConstants, coefficients: np.ndarray,
        decays: np.ndarray, word_scan: bool, row_capacity: int = 0,
    ):
        batch, num_steps = inputs.shape[:2]
        flat, words, rows = raster_bytes(inputs, word_scan, weight.dtype)
        weight_values, output_values = weight.detach().contiguous(), output_weight.detach().contiguous()
        spikes = torch.empty((batch, num_steps, weight.shape[1]), dtype=torch.bool)
        output_voltages = weight.new_empty((batch, num_steps, output_weight.shape[1]))
        peak = weight.new_empty((batch, output_weight.shape[1]))
        peak_step = torch.empty((batch, output_weight.shape[1]), dtype=torch.int64)
        dtype = output_voltages.numpy().dtype
        # each pattern's input rows as the word scan finds them, kept for the backward where they fit
        capacity = row_capacity if flat.size else 0
        saved_rows = (np.empty((batch if capacity else 0, num_steps + 1), dtype=np.int64),
                      np.empty((batch if capacity else 0, capacity), dtype=np.int64))
        compiled.readout_forward(
            flat, words, *(part.numpy() for part in rows), ones(num_steps * max(weight.shape), dtype), weight_values.numpy(),
            output_values.numpy(), coefficients, decays, *typed(constants, dtype)[:10], spikes.view(torch.uint8).numpy(),
            output_voltages.numpy(), peak.numpy(), peak_step.numpy(), *saved_rows, compiled.num_threads(),
        )
        # counted here: counting inside the pass measured 2 ms slower (of a 7 ms forward), this 0.4 ms
        counts = torch.from_numpy(raster_counts(spikes.view(torch.uint8).numpy())).to(weight.dtype)
        ctx.save_for_backward(inputs, *rows, weight_values, output_values, peak_step)
        ctx.word_scan, ctx.saved_rows = word_scan, saved_rows
        ctx.constants, ctx.kernel = constants, (coefficients, decays)
        ctx.mark_non_differentiable(spikes, peak_step)
        ctx.set_materialize_grads(False)
        return spikes, counts, output_voltages, peak

    @staticmethod
    def backward(ctx, _: None, grad_counts: Tensor | None, grad_output_voltages: Tensor | None, grad_peak: Tensor | None):
        inputs, row_start, columns, values, weight, output_weight, peak_step = ctx.saved_tensors
        dtype = weight.numpy().dtype
        grad_peak = grad_peak.contiguous().numpy() if grad_peak is not None else np.zeros(peak_step.shape, dtype=dtype)
        flat, words, _ = raster_bytes(inputs, ctx.word_scan, weight.dtype, find_rows=False)
        grad_weight, grad_output_weight = compiled.readout_backward(
            flat, words, row_start.numpy(), columns.numpy(), values.numpy(), ones(inputs.shape[1] * max(weight.shape), dtype),
            weight.numpy(), output_weight.numpy(), *ctx.kernel, *typed(ctx.constants, dtype), inputs.shape[1], peak_step.numpy(),
            grad_counts.contiguous().numpy() if grad_counts is not None else np.empty((0, 0), dtype=dtype),
            grad_output_voltages.contiguous().numpy() if grad_output_voltages is not None else np.empty((0, 0, 0), dtype=dtype),
            grad_peak, *ctx.saved_rows, compiled.num_threads(),
        )
        return None, torch.from_numpy(grad_weight), torch.from_numpy(grad_output_weight), None, None, None, None, None


def row_capacity(fraction: float, num_steps: int, num_inputs: int) -> int:
    """Room for one pattern's input spikes when a fraction ``fraction`` of its L N_in entries is
    expected to be set: the mean plus a quarter and 4 binomial standard deviations (a denser
    pattern's rows are found again in the backward instead of kept)."""
    room = num_steps * num_inputs
    expected = fraction * room
    return min(room, int(1.25 * expected + 4.0 * math.sqrt(expected) + 16))


def layer_and_readout(
    inputs: Tensor, weight: Tensor, neuron: Neuron, output_weight: Tensor, kernel: ExponentialSumKernel, dt: float
) -> tuple[Tensor, Tensor, Tensor, Tensor] | None:
    """(hidden spikes [B, L, N] as bools, their counts [B, N], output voltages from rest [B, L, O],
    their maxima over time [B, O]: :class:`LayerAndReadout`) of inputs [B, L, N_in] (a bool
    raster or spikes as numbers, needing no gradient) through the layer (W, neuron) and the ``li``
    outputs (W_out, kernel) in one compiled pass; None where it does not apply."""
    if inputs.requires_grad or output_weight.dtype != weight.dtype:
        return None
    fraction = sparse_fraction(inputs, weight)
    if fraction is None:
        return None
    probe = weight.new_empty((1, 1, weight.shape[1]))  # what the scan's constants depend on: device, dtype
    constants = compiled_constants(neuron, probe, None)
    if constants is None:
        return None
    word_scan = fraction < WORD_SCAN_BELOW
    capacity = row_capacity(fraction, inputs.shape[1], inputs.shape[2]) if word_scan else 0
    return LayerAndReadout.apply(
        inputs, weight, output_weight, constants, *filter_constants(kernel, dt, weight.dtype), word_scan, capacity
    )
