"""Project a layer's input through its weights, all time steps at once: current = x @ W.

For inputs x [B, L, N_in] (a bool spike raster, or spikes as numbers: 0, 1 or dropout's
1/(1-p)) and weights W [N_in, N_out] (float), the currents of every step are

    current[b, k, o] = sum_i x[b, k, i] W[i, o]        dL/dW = x^T G,   dL/dx = G W^T

Spikes are sparse: at a rate r the event-driven product, which adds one weight row per spike
and accumulates the weight gradient per spike (:mod:`lif.stepped.compiled`), costs r x the
dense one's multiply-adds. :func:`project` picks the path by the measured fraction of nonzero
inputs: event-driven on the CPU below :data:`EVENT_DRIVEN_BELOW`, the dense product (one GEMM
over all steps) otherwise and on other devices. The gradient with respect to the inputs (hidden
spikes, on their way back to the surrogate) is dense on both paths: every neuron's surrogate
derivative is nonzero.
"""

from __future__ import annotations

import torch
from torch import Tensor

from lif.stepped import compiled

# Above this fraction of nonzero inputs the dense product wins on the CPU (scripts/bench_network.py):
# it runs at the GEMM's throughput, the event-driven adds at about a tenth of it per operation.
EVENT_DRIVEN_BELOW = 0.08


class EventDrivenProjection(torch.autograd.Function):
    """x [R, N_in] @ W [N_in, N_out], touching only the nonzero x: forward and weight gradient compiled."""

    @staticmethod
    def forward(ctx, inputs: Tensor, weight: Tensor) -> Tensor:
        input_array = inputs.detach().contiguous()
        out = weight.new_empty((inputs.shape[0], weight.shape[1]))
        compiled.project_forward(input_array.numpy(), weight.detach().contiguous().numpy(), out.numpy())
        ctx.save_for_backward(input_array, weight)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        inputs, weight = ctx.saved_tensors
        grad_inputs = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_inputs = (grad_out @ weight.T).to(inputs.dtype)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.from_numpy(
                compiled.project_weight_gradient(inputs.numpy(), grad_out.contiguous().numpy(), compiled.num_threads())
            )
        return grad_inputs, grad_weight


def nonzero_fraction(inputs: Tensor, sample_rows: int = 4096) -> float:
    """The fraction of nonzero inputs, estimated from up to ``sample_rows`` evenly spaced rows
    (it only chooses the path; both are exact)."""
    rows = inputs.reshape(-1, inputs.shape[-1])
    rows = rows[:: max(1, rows.shape[0] // sample_rows)]
    return float(torch.count_nonzero(rows)) / max(rows.numel(), 1)


def event_driven(inputs: Tensor, weight: Tensor) -> bool:
    """Whether :func:`project` takes the event-driven path for these inputs."""
    return (
        inputs.device.type == "cpu"
        and weight.dtype in (torch.float32, torch.float64)
        and (inputs.dtype == torch.bool or inputs.dtype == weight.dtype)
        and nonzero_fraction(inputs) < EVENT_DRIVEN_BELOW
    )


def project(inputs: Tensor, weight: Tensor) -> Tensor:
    """Currents [B, L, N_out] of inputs [B, L, N_in] (bool or numbers) through weights [N_in, N_out]."""
    if not event_driven(inputs, weight):
        return inputs.to(weight.dtype) @ weight
    rows = inputs.reshape(-1, inputs.shape[-1])
    return EventDrivenProjection.apply(rows, weight).reshape(*inputs.shape[:-1], weight.shape[1])
