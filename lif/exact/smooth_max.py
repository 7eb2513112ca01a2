"""The smooth ("convolution") maximum of a tempotron layer's voltage over the grid.

    h[b, o] = (1/beta) log( (1/L) sum_k exp(beta V[b, k, o]) )

a soft maximum over the L grid steps that needs no t_max: max_k V - (log L)/beta <= h <= max_k V,
and h -> max_k V as beta -> infinity (beta in 1/mV). Its gradient is a softmax-weighted
average of kernel values,

    dh/dW[i, o] = sum_k w_k dV_k/dW[i, o] = sum_k w_k sum_j K(t_k - t_i^j),
    w_k = softmax_k(beta V_k) = exp(beta (V_k - h)) / L.

Backends as :mod:`lif.exact.max_voltage`: ``compiled`` (CPU, spike times) keeps no trace
between the passes: the forward is a streaming log-sum-exp inside the exact scan, and the
backward scans each group of patterns again, filters the weights w_k backwards in time
(R_c[k] = w_k + d_c R_c[k+1], the forward recursion run in reverse) and samples that at the
input spikes. ``torch`` (other devices, and raster inputs) differentiates through the trace.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lif.exact.grid import is_raster
from lif.exact.max_voltage import batched, kernel_constants, resolve_backend, spike_time_matrix
from lif.exact.scan import gridded_trace
from lif.kernels import ExponentialSumKernel


def smooth_max(values: Tensor, beta: float, dim: int) -> Tensor:
    """(1/beta) log((1/L) sum exp(beta values)) along ``dim`` (a log-sum-exp, stable for large beta)."""
    return (torch.logsumexp(beta * values, dim=dim) - math.log(values.shape[dim])) / beta


class _SmoothMaxVoltage(torch.autograd.Function):
    """h[b, o] from the compiled kernels, with the time-reversed filter as its backward."""

    @staticmethod
    def forward(ctx, weights, spike_times, kernel, dt, num_steps, v_rest, beta):
        from lif.exact import compiled

        constants = kernel_constants(kernel, dt, weights.dtype)
        plain_weights = weights.detach().contiguous()
        smooth, steps, phases = compiled.smooth_max_spike_times(
            spike_time_matrix(spike_times, weights.dtype), batched(plain_weights).numpy(), float(dt), int(num_steps),
            *constants, float(v_rest), float(beta),
        )
        smooth = torch.from_numpy(smooth)
        ctx.save_for_backward(plain_weights, torch.from_numpy(steps), torch.from_numpy(phases), smooth)
        ctx.constants, ctx.num_steps, ctx.v_rest, ctx.beta = constants, num_steps, v_rest, beta
        return smooth

    @staticmethod
    def backward(ctx, grad_smooth):
        from lif.exact import compiled

        weights, steps, phases, smooth = ctx.saved_tensors
        gradient = compiled.smooth_max_gradient(
            steps.numpy(), phases.numpy(), batched(weights).numpy(), smooth.numpy(), grad_smooth.detach().contiguous().numpy(),
            int(ctx.num_steps), ctx.constants.coefficients, ctx.constants.decays, float(ctx.v_rest), float(ctx.beta),
            compiled.num_threads(),
        )
        gradient = torch.from_numpy(gradient)
        return gradient if weights.dim() == 3 else gradient[0], None, None, None, None, None, None


def smooth_max_voltage(
    spike_times: Tensor,
    weights: Tensor,
    kernel: ExponentialSumKernel,
    dt: float,
    num_steps: int,
    beta: float,
    v_rest: float = 0.0,
    backend: str = "auto",
) -> Tensor:
    """The smooth maximum h [B, N_out] (mV) of each output's voltage over the grid (module docstring).

    ``spike_times`` [B, N_in(, S)] in ms, or a bool raster [B, L, N_in] (always the torch path);
    ``weights`` [N_in, N_out], or [B, N_in, N_out]: each pattern's own.
    """
    if not beta > 0:
        raise ValueError(f"beta must be > 0 (1/mV), got {beta}")
    if resolve_backend(backend, weights) == "compiled" and not is_raster(spike_times):
        return _SmoothMaxVoltage.apply(weights, spike_times, kernel, dt, num_steps, v_rest, beta)
    _, trace = gridded_trace(spike_times, weights, kernel, dt, num_steps)  # [B, N_out, L], above rest
    return smooth_max(trace + v_rest, beta, dim=-1)
