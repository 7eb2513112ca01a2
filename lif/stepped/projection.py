"""Project a layer's input through its weights, all time steps at once: current = x @ W.

For inputs x [B, L, N_in] (a bool spike raster, or spikes as numbers: 0, 1 or dropout's
1/(1-p)) and weights W [N_in, N_out] (float), the currents of every step are

    current[b, k, o] = sum_i x[b, k, i] W[i, o]        dL/dW = x^T G,   dL/dx = G W^T

Spikes are sparse: at a rate r the event-driven product, which adds one weight row per spike
and accumulates the weight gradient per spike (:mod:`lif.stepped.compiled`), costs r x the
dense one's multiply-adds. The nonzero inputs are found once, as compressed rows kept for the
backward (a sparse bool raster a 64-bit word at a time, below :data:`WORD_SCAN_BELOW`).
:func:`project` picks the path by the measured fraction of nonzero inputs and the number of
outputs: event-driven on the CPU below :data:`EVENT_DRIVEN_BELOW` with
at least :data:`EVENT_DRIVEN_MIN_OUTPUTS` outputs, the dense product (one GEMM over all steps)
otherwise and on other devices. The gradient with respect to the inputs (hidden
spikes, on their way back to the surrogate) is dense on both paths: every neuron's surrogate
derivative is nonzero.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from lif.stepped import compiled

# Measured on the CPU: above this fraction of nonzero inputs the dense product wins (it runs at
# the GEMM's throughput, the event-driven adds at a fraction of it per operation); and below this
# many outputs, reading the inputs to find the spikes costs as much as the product itself.
EVENT_DRIVEN_BELOW = 0.08
EVENT_DRIVEN_MIN_OUTPUTS = 32
# Below this fraction a bool raster's spikes are found by skipping zero 64-bit words (most words
# are zero); above it, by reading each entry, rows in parallel. (Measured on 256 x 100 x 700
# rasters: the word scan on one thread 3.3 / 5.6 / 7.9 ms at 1 / 3 / 5 % against 5.9 / 7.5 / 8.8
# reading each entry on two; the one-pass layer 10 % faster at 3 and 5 % with it.)
WORD_SCAN_BELOW = 0.06


def compressed_rows(inputs: Tensor, dtype: torch.dtype, word_scan: bool = True) -> tuple[Tensor, Tensor, Tensor]:
    """The nonzero entries of inputs [R, N_in] as compressed rows (row_start [R + 1], columns, values
    in ``dtype``): a bool raster read a word (8 entries) at a time when ``word_scan``, else (and
    numbers) one entry at a time."""
    values_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    if inputs.dtype == torch.bool and word_scan:
        flat = inputs.contiguous().numpy().reshape(-1).view(np.uint8)
        words = flat[: flat.size // 8 * 8].view(np.uint64)
        # room for a rate of 1/10 (the word scan is for sparser rasters), else for every entry
        for capacity in (flat.size // 10 + 64, flat.size):
            row_start, columns = compiled.raster_rows(flat, words, inputs.shape[1], capacity)
            if row_start.size:
                break
        values = np.ones(columns.size, dtype=values_dtype)
    else:
        row_start, columns, values = compiled.value_rows(inputs.contiguous().numpy())
        values = values.astype(values_dtype, copy=False)
    return torch.from_numpy(row_start), torch.from_numpy(columns), torch.from_numpy(values)


class EventDrivenProjection(torch.autograd.Function):
    """x [R, N_in] @ W [N_in, N_out], touching only the nonzero x: forward and weight gradient compiled.

    The nonzero inputs are found once, as compressed rows, and kept for the backward instead of x."""

    @staticmethod
    def forward(ctx, inputs: Tensor, weight: Tensor, word_scan: bool = True) -> Tensor:
        rows = compressed_rows(inputs.detach(), weight.dtype, word_scan)
        out = weight.new_empty((inputs.shape[0], weight.shape[1]))
        compiled.project_rows(*(part.numpy() for part in rows), weight.detach().contiguous().numpy(), out.numpy())
        ctx.save_for_backward(*rows, weight)
        ctx.input_dtype = inputs.dtype
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        row_start, columns, values, weight = ctx.saved_tensors
        grad_inputs = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_inputs = (grad_out @ weight.T).to(ctx.input_dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.from_numpy(
                compiled.project_rows_weight_gradient(
                    row_start.numpy(), columns.numpy(), values.numpy(), grad_out.contiguous().numpy(), weight.shape[0],
                    compiled.num_threads(),
                )
            )
        return grad_inputs, grad_weight, *([None] * (len(ctx.needs_input_grad) - 2))


class EventProjection(torch.autograd.Function):
    """Currents [B, L, N] of input events: out[b, step[b, i, s]] += value[b, i, s] W[i] (compiled)."""

    @staticmethod
    def forward(ctx, step: Tensor, value: Tensor, weight: Tensor, num_steps: int) -> Tensor:
        step, value, weight_values = step.contiguous(), value.detach().contiguous(), weight.detach().contiguous()
        out = weight.new_zeros((step.shape[0], num_steps, weight.shape[1]))
        compiled.scatter_events(step.numpy(), value.numpy(), weight_values.numpy(), out.numpy())
        ctx.save_for_backward(step, value, weight_values)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        step, value, weight = ctx.saved_tensors
        grad_weight, grad_value = compiled.gather_events(
            step.numpy(), value.numpy(), weight.numpy(), grad_out.contiguous().numpy(), ctx.needs_input_grad[1],
            compiled.num_threads(),
        )
        return (
            None, (torch.from_numpy(grad_value) if ctx.needs_input_grad[1] else None),
            (torch.from_numpy(grad_weight) if ctx.needs_input_grad[2] else None), None,
        )


def project_events(step: Tensor, value: Tensor, weight: Tensor, num_steps: int) -> Tensor:
    """Currents [B, L, N_out] of input events, input i's s-th spike in pattern b entering at step
    ``step[b, i, s]`` with the factor ``value[b, i, s]`` (0: no spike) on its weights W[i] [N_in, N_out]."""
    if step.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64):
        return EventProjection.apply(step.to(torch.int64), value.to(weight.dtype), weight, num_steps)
    return scatter_events(step, value, weight, num_steps)


def scatter_events(step: Tensor, value: Tensor, weight: Tensor, num_steps: int) -> Tensor:
    """:func:`project_events` by tensor operations (any device; autograd for the backward)."""
    batch = step.shape[0]
    contributions = (value.to(weight.dtype).unsqueeze(-1) * weight[None, :, None, :]).reshape(batch, -1, weight.shape[1])
    out = weight.new_zeros((batch, num_steps, weight.shape[1]))
    index = step.to(torch.int64).reshape(batch, -1, 1).expand(-1, -1, weight.shape[1])
    return out.scatter_add(1, index, contributions)


def nonzero_fraction(inputs: Tensor, sample_rows: int = 1024, blocks: int = 16) -> float:
    """The fraction of nonzero inputs, estimated from up to ``sample_rows`` rows in ``blocks``
    evenly spaced runs of consecutive rows (it only chooses the path, both exact, and sizes the
    rows kept for the backward, with a margin: :func:`lif.stepped.fused.row_capacity`). On the
    CPU numpy counts them (measured: 3x torch.count_nonzero on bools, 6x on rows taken at a
    stride; 0.13 ms for 1024 rows of 700 inputs, where 4096 rows took 0.3 to 0.45)."""
    rows = inputs.detach().reshape(-1, inputs.shape[-1])
    if rows.shape[0] > sample_rows:
        count = sample_rows // blocks
        starts = np.linspace(0, rows.shape[0] - count, blocks).astype(np.int64)
    else:
        count, starts = rows.shape[0], [0]
    if rows.device.type == "cpu" and rows.dtype != torch.bfloat16:  # (numpy has no bfloat16)
        array = rows.numpy()
        nonzero = sum(int(np.count_nonzero(array[start : start + count])) for start in starts)
    else:
        nonzero = sum(int(torch.count_nonzero(rows[start : start + count])) for start in starts)
    return nonzero / max(len(starts) * count * rows.shape[1], 1)


def sparse_fraction(inputs: Tensor, weight: Tensor) -> float | None:
    """The estimated fraction of nonzero inputs when :func:`project` takes the event-driven path
    for these inputs, else None."""
    if not (
        inputs.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.float64)
        and (inputs.dtype == torch.bool or inputs.dtype == weight.dtype)
        and weight.shape[1] >= EVENT_DRIVEN_MIN_OUTPUTS
    ):
        return None
    fraction = nonzero_fraction(inputs)
    return fraction if fraction < EVENT_DRIVEN_BELOW else None


def event_driven(inputs: Tensor, weight: Tensor) -> bool:
    """Whether :func:`project` takes the event-driven path for these inputs."""
    return sparse_fraction(inputs, weight) is not None


def project(inputs: Tensor, weight: Tensor) -> Tensor:
    """Currents [B, L, N_out] of inputs [B, L, N_in] (bool or numbers) through weights [N_in, N_out]."""
    fraction = sparse_fraction(inputs, weight)
    if fraction is None:
        return inputs.to(weight.dtype) @ weight
    rows = inputs.reshape(-1, inputs.shape[-1])
    output = EventDrivenProjection.apply(rows, weight, fraction < WORD_SCAN_BELOW)
    return output.reshape(*inputs.shape[:-1], weight.shape[1])
