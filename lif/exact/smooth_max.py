"""The smooth ("convolution") maximum of a tempotron layer's voltage over the grid.

    h[b, o] = (1/beta) log( (1/L) sum_k exp(beta V[b, k, o]) )

a soft maximum over the L grid steps that needs no t_max: max_k V - (log L)/beta <= h <= max_k V,
and h -> max_k V as beta -> infinity (beta in 1/mV). Its gradient is a softmax-weighted
average of kernel values,

    dh/dW[i, o] = sum_k w_k dV_k/dW[i, o] = sum_k w_k sum_j K(t_k - t_i^j),
    w_k = softmax_k(beta V_k) = exp(beta (V_k - h)) / L.

Backends as :mod:`lif.exact.max_voltage`: ``compiled`` (CPU, spike times) keeps no trace:
per group of patterns and output, the exact scan writes V_k into an [L, 16] scratch, the
log-sum-exp is taken over it, and, when a gradient will be needed, the weights w_k are
filtered backwards in time (R_c[k] = w_k + d_c R_c[k+1], the forward recursion run in reverse)
and sampled at the input spikes, giving dh[b, o]/dW[i, o] [B, O, N] for the backward pass
(which multiplies it by the upstream gradient). ``torch`` (other devices, and raster inputs)
differentiates through the trace.
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
    """h[b, o] from the compiled kernel; its Jacobian dh[b, o]/dW[i, o], computed in the same
    pass when a gradient will be asked for, is the backward's only state."""

    @staticmethod
    def forward(ctx, weights, spike_times, kernel, dt, num_steps, v_rest, beta, with_jacobian):
        from lif.exact import compiled

        constants = kernel_constants(kernel, dt, weights.dtype)
        smooth, jacobian = compiled.smooth_max_spike_times(
            spike_time_matrix(spike_times, weights.dtype), batched(weights.detach().contiguous()).numpy(), float(dt),
            int(num_steps), *constants, float(v_rest), float(beta), with_jacobian,
        )
        ctx.save_for_backward(torch.from_numpy(jacobian))  # [B, O, N]
        ctx.per_pattern = weights.dim() == 3
        return torch.from_numpy(smooth)

    @staticmethod
    def backward(ctx, grad_smooth):
        (jacobian,) = ctx.saved_tensors
        if ctx.per_pattern:  # dL/dW[b, i, o] = g[b, o] dh[b, o]/dW[i, o]
            gradient = (grad_smooth.unsqueeze(-1) * jacobian).transpose(1, 2)
        else:  # dL/dW[i, o] = sum_b g[b, o] dh[b, o]/dW[i, o]
            gradient = torch.einsum("bo,boi->io", grad_smooth.to(jacobian.dtype), jacobian)
        return gradient, None, None, None, None, None, None, None


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
        with_jacobian = torch.is_grad_enabled() and weights.requires_grad  # not while evaluating
        return _SmoothMaxVoltage.apply(weights, spike_times, kernel, dt, num_steps, v_rest, beta, with_jacobian)
    _, trace = gridded_trace(spike_times, weights, kernel, dt, num_steps)  # [B, N_out, L], above rest
    return smooth_max(trace + v_rest, beta, dim=-1)
