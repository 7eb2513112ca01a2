"""The maximum voltage of a tempotron layer over the grid, with the tempotron's closed-form gradient.

V_max[b, o] = max_k V[b, k, o] (:mod:`lif.exact.scan`) and its time. By the envelope theorem
the gradient through the maximum is dV_max/dW[i, o] = sum_j K(t_max - t_i^j): the backward
pass gathers kernel values at the time of the maximum and never keeps the voltage trace.

Two backends compute the same numbers: ``compiled`` (the numba kernels of
:mod:`lif.exact.compiled`, CPU tensors; gridding, scatter and scan fused per group of
patterns, O(B * N_in * S * C) memory for the backward) and ``torch`` (the tensor path of
:mod:`lif.exact.scan`, any device; the one used on CUDA). ``auto`` picks by device.

``python -m lif.exact`` compiles the kernels into numba's disk cache (``make install`` runs it).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lif.exact.grid import GriddedSpikes, check_raster, is_raster
from lif.exact.scan import gridded_trace, kernel_at, kernel_table, raster_currents
from lif.kernels import ExponentialSumKernel

BACKENDS = ("auto", "compiled", "torch")


def resolve_backend(backend: str, weights: Tensor) -> str:
    """``compiled`` (the numba kernels of :mod:`lif.exact.compiled`) for CPU tensors, else ``torch``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "compiled" if weights.device.type == "cpu" else "torch"
    if backend == "compiled" and weights.device.type != "cpu":
        raise ValueError("the compiled backend runs on the CPU; use backend='torch' on other devices")
    return backend


class KernelConstants(NamedTuple):
    """A kernel's numbers as the compiled kernels take them: coef_c and d_c in the weights'
    dtype, log d_c (float64) and how often to square the phase polynomial."""

    coefficients: np.ndarray
    decays: np.ndarray
    log_decays: np.ndarray
    squarings: np.ndarray


def kernel_constants(kernel: ExponentialSumKernel, dt: float, dtype: torch.dtype) -> KernelConstants:
    from lif.exact import compiled

    numpy_type = torch.empty(0, dtype=dtype).numpy().dtype
    exact_decays = np.asarray(kernel.decays(dt), dtype=np.float64)
    log_decays = np.log(exact_decays)
    return KernelConstants(
        np.asarray(kernel.coefficients, dtype=numpy_type), exact_decays.astype(numpy_type), log_decays,
        compiled.exp_squarings(log_decays),
    )


def batched(weights: Tensor) -> Tensor:
    """Weights as the compiled kernels take them: [1, N, O] when shared by the batch, [B, N, O] as they are."""
    return weights if weights.dim() == 3 else weights.unsqueeze(0)


def spike_time_matrix(inputs: Tensor, dtype: torch.dtype) -> np.ndarray:
    """Spike times [B, N_in(, S)] as the compiled kernels take them: [B, N_in * S], contiguous."""
    times = inputs if inputs.dim() == 3 else inputs.unsqueeze(-1)
    return times.detach().reshape(times.shape[0], -1).to(dtype).contiguous().numpy()


def _compiled_forward(inputs: Tensor, weights: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, v_rest: float):
    """v_max (with v_rest), max_step and what the backward pass needs, from the numba kernels."""
    from lif.exact import compiled

    constants = kernel_constants(kernel, dt, weights.dtype)
    plain_weights = weights.detach().contiguous()
    if is_raster(inputs) and weights.dim() == 2:
        check_raster(inputs, num_steps)
        currents = raster_currents(inputs, plain_weights, len(constants.decays)).permute(0, 2, 3, 1)  # [B, L, C, N_out], a view
        v_max, max_step = compiled.max_voltage_currents(currents.numpy(), constants.coefficients, constants.decays, float(v_rest))
        return torch.from_numpy(v_max), torch.from_numpy(max_step), (inputs,)
    v_max, max_step, steps, phases = compiled.max_voltage_spike_times(
        spike_time_matrix(inputs, weights.dtype), batched(plain_weights).numpy(), float(dt), int(num_steps), *constants, float(v_rest),
    )
    return torch.from_numpy(v_max), torch.from_numpy(max_step), (torch.from_numpy(steps), torch.from_numpy(phases))


class _MaxVoltage(torch.autograd.Function):
    """V_max[b, o] = max_k V[b, k, o] with the closed-form gradient sum_j K(t_max - t_i^j)."""

    @staticmethod
    def forward(ctx, weights, inputs, kernel, dt, num_steps, v_rest, backend):
        ctx.raster = is_raster(inputs)
        ctx.backend = resolve_backend(backend, weights)
        ctx.per_pattern = weights.dim() == 3
        if ctx.backend == "compiled" and not (ctx.raster and ctx.per_pattern):
            v_max, max_step, saved = _compiled_forward(inputs, weights, kernel, dt, num_steps, v_rest)
        else:
            spikes, trace = gridded_trace(inputs, weights, kernel, dt, num_steps)
            v_max, max_step = trace.max(dim=-1)
            v_max = v_max + v_rest
            saved = (spikes,) if ctx.raster else (spikes.step, spikes.phase)
        ctx.save_for_backward(*saved, max_step)
        ctx.kernel, ctx.dt, ctx.num_steps, ctx.num_inputs = kernel, dt, num_steps, weights.shape[-2]
        ctx.mark_non_differentiable(max_step)
        return v_max, max_step

    @staticmethod
    def backward(ctx, grad_v_max, _grad_max_step):
        *inputs, max_step = ctx.saved_tensors
        coefficients, decays = ctx.kernel.coefficients, ctx.kernel.decays(ctx.dt)
        table = kernel_table(coefficients, decays, ctx.num_steps, grad_v_max.dtype, grad_v_max.device)  # coef_c d_c^n
        if ctx.raster:
            # sum_b g[b, o] sum_k raster[b, k, i] K(t_max[b, o] - t_k), as one matrix product
            (raster,) = inputs
            lag = max_step.unsqueeze(-1) - torch.arange(ctx.num_steps, device=max_step.device)  # [B, N_out, L]
            window = table.sum(dim=0)[lag.clamp(min=0)] * (lag >= 0) * grad_v_max.unsqueeze(-1)
            summed = "bki,bok->bio" if ctx.per_pattern else "bki,bok->io"
            grad_weights = torch.einsum(summed, raster.to(grad_v_max.dtype), window)
        elif ctx.backend == "compiled":
            from lif.exact import compiled

            steps, phases = inputs
            per_input = steps.shape[1] // ctx.num_inputs
            if ctx.per_pattern:  # each pattern's PSPs at its t_max, times its upstream gradient
                psp = compiled.psp_at_step(steps.numpy(), phases.numpy(), max_step.numpy(), table.numpy(), per_input)
                grad_weights = torch.from_numpy(psp) * grad_v_max.unsqueeze(1)
            else:
                gradient = compiled.weight_gradient(
                    steps.numpy(), phases.numpy(), max_step.numpy(), grad_v_max.detach().contiguous().numpy(),
                    table.numpy(), per_input, compiled.num_threads(),
                )
                grad_weights = torch.from_numpy(gradient)
        else:
            psp = kernel_at(GriddedSpikes(*inputs), max_step, ctx.kernel, ctx.dt, ctx.num_steps)  # [B, N_in, N_out]
            grad_weights = psp * grad_v_max.unsqueeze(1) if ctx.per_pattern else torch.einsum("bio,bo->io", psp, grad_v_max)
        return grad_weights, None, None, None, None, None, None


def max_voltage(
    spike_times: Tensor,
    weights: Tensor,
    kernel: ExponentialSumKernel,
    dt: float,
    num_steps: int,
    v_rest: float = 0.0,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Maximum voltage over the grid and its time: (V_max [B, N_out], t_max [B, N_out] in ms).

    ``spike_times`` may also be a bool raster [B, L, N_in] (see the module docstring).
    ``backend``: ``auto`` runs the compiled kernels (:mod:`lif.exact.compiled`) on the CPU and
    tensor operations elsewhere (CUDA); ``compiled`` or ``torch`` choose one.

    The gradient of V_max with respect to ``weights`` is the tempotron rule
    dV_max/dW[i, o] = sum_j K(t_max - t_i^j); the trace is not kept for the backward pass.
    ``weights`` [N_in, N_out] are shared by the batch; [B, N_in, N_out] are each pattern's own
    (a gated tempotron's effective weights), and their gradient is per pattern too.
    """
    v_max, max_step = _MaxVoltage.apply(weights, spike_times, kernel, dt, num_steps, v_rest, backend)
    return v_max, max_step.to(v_max.dtype) * dt
