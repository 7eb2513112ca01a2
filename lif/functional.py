"""Exact membrane voltages of a layer of non-resetting LIF neurons driven by input spikes.

The voltage of output ``o`` on the time grid t_k = k*dt (k = 0 .. L-1, ms) is

    V_o(t_k) = v_rest + sum_i W[i, o] * sum_j K(t_k - t_i^j)

for a kernel K(s) = sum_c coef_c * exp(-s / tau_c) (:mod:`lif.kernels`). It is computed
*projection first, filter second*, never building a [batch, time, afferents] tensor:

Inputs come in two forms: *spike times*, a float tensor [B, N_in] or [B, N_in, S] in ms
(S spikes per afferent, +inf/NaN padding), and *rasters*, a bool tensor [B, L, N_in] with
a spike wherever it is True (spikes on the grid, any number per afferent).

1. grid the spikes: a spike at time t (ms) enters at the first grid step at or after it,
   k = ceil(t / dt), with a phase factor exp(-(t_k - t) / tau_c) per kernel term, so that
   spikes between grid points are exact (spikes before t = 0 enter at k = 0 with the
   phase exp(t / tau_c) they have decayed by; spikes that would enter at or after step L,
   and +inf/NaN padding, are dropped);
2. project: scatter-add the weights into per-step input currents
   I_c[b, o, k] = sum over spikes entering at k of W[i, o] * phase_c   (cost B*N_in*N_out);
   a raster is projected by one matrix product, I[b, k, :] = raster[b, k, :] @ W;
3. filter: each term is the leaky trace A_c[k] = d_c * A_c[k-1] + I_c[k], d_c = exp(-dt/tau_c),
   and V = v_rest + sum_c coef_c * A_c. The recursion is evaluated in chunks of
   ``CHUNK`` steps with small matrix products (a blocked linear scan), which is exact
   and costs O(B * N_out * C * (L * CHUNK + (L / CHUNK)^2)) instead of a Python loop over time.

This module is the tensor path (any device; the one used on CUDA); on the CPU,
:func:`max_voltage` runs the compiled kernels of :mod:`lif.compiled` instead. Memory: the
compiled path keeps O(B * N_in * S * C) for the backward pass; the tensor path's scatter
and backward materialise O(B * N_in * S * C * N_out) (measured: 37 MiB for a binary and
178 MiB for a 10-output step of 1024 patterns, against 6 MiB compiled; scripts/bench.py).

:func:`max_voltage` returns the maximum over the grid and its time, with the
tempotron's closed-form gradient: by the envelope theorem
dV_max/dW[i, o] = sum_j K(t_max - t_i^j), so the backward pass gathers kernel values at
the time of the maximum and never keeps the voltage trace.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lif.kernels import ExponentialSumKernel

CHUNK = 32  # time steps per block of the blocked scan


class GriddedSpikes(NamedTuple):
    """Spike times placed on the time grid.

    ``step``: [B, N_in, S] grid step (int32) at which each spike enters (0 for dropped spikes).
    ``phase``: [C, B, N_in, S] factor exp(-(t_step - t) / tau_c) of each kernel term (term-major,
    so that every operation on it is contiguous);
    zero for spikes outside the window, so they add nothing anywhere.
    """

    step: Tensor
    phase: Tensor


def grid_spikes(
    spike_times: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, dtype: torch.dtype | None = None
) -> GriddedSpikes:
    """Place spike times (ms, [B, N_in] or [B, N_in, S], +inf/NaN = no spike) on the grid."""
    if spike_times.dim() == 2:
        spike_times = spike_times.unsqueeze(-1)
    dtype = dtype or (spike_times.dtype if spike_times.is_floating_point() else torch.get_default_dtype())
    steps = grid_positions(spike_times, dt)
    entry = torch.ceil(steps)
    outside = torch.logical_not(entry < num_steps)  # at or after L*dt, +inf padding and NaN: dropped
    entry.clamp_(min=0)  # spikes before t = 0 enter at step 0, decayed by their phase
    delay = (entry - steps).masked_fill_(outside, 0.0)  # in steps, >= 0
    # phase_c = exp(-delay dt / tau_c), as a power of two (the fastest vectorised exponential)
    phase = torch.stack([torch.exp2(delay * (-dt / (tau * math.log(2.0)))) for tau in kernel.time_constants])
    phase = phase.masked_fill_(outside, 0.0).to(dtype)
    step = entry.masked_fill_(outside, 0.0).to(torch.int32)
    return GriddedSpikes(step, phase)


def grid_positions(spike_times: Tensor, dt: float) -> Tensor:
    """t / dt in float64 (float32 where a device has no float64): in float32, a time near a
    grid point could round to the neighbouring step. Every path grids with this (and
    :mod:`lif.compiled` with the same formula)."""
    precise = torch.float32 if spike_times.device.type == "mps" else torch.float64
    return spike_times.to(precise) * (1.0 / dt)


def is_raster(inputs: Tensor) -> bool:
    """True for a bool spike raster [B, L, N_in], False for spike times."""
    return inputs.dtype == torch.bool


def _check_raster(raster: Tensor, num_steps: int) -> None:
    if raster.dim() != 3 or raster.shape[1] != num_steps:
        raise ValueError(f"a spike raster must be [batch, {num_steps} steps, afferents], got {list(raster.shape)}")


def raster_currents(raster: Tensor, weights: Tensor, num_terms: int) -> Tensor:
    """Project a raster [B, L, N_in] by one matrix product: I[b, o, k, c] = sum_i raster[b, k, i] W[i, o]."""
    batch, num_steps, num_inputs = raster.shape
    projected = raster.to(weights.dtype).reshape(batch * num_steps, num_inputs) @ weights
    return projected.view(batch, num_steps, -1).transpose(1, 2).unsqueeze(-1).expand(-1, -1, -1, num_terms)


def input_currents(spikes: GriddedSpikes, weights: Tensor, num_steps: int) -> Tensor:
    """Project weights onto the grid: I[b, o, k, c] = sum_{spikes entering at k} W[i, o] * phase_c.

    ``weights`` is [N_in, N_out]; the result [B, N_out, L, C] is differentiable in ``weights``.
    """
    num_terms, batch, num_inputs, spikes_per_input = spikes.phase.shape
    num_outputs = weights.shape[1]
    terms = torch.arange(num_terms, device=weights.device)
    # Flat position of (step, term) inside one output's [L, C] block.
    position = (spikes.step.long().unsqueeze(-1) * num_terms + terms).reshape(batch, 1, -1)
    phase = spikes.phase.permute(1, 2, 3, 0)  # [B, N_in, S, C]
    source = weights.t()[None, :, :, None, None] * phase.unsqueeze(1)  # [B, N_out, N_in, S, C]
    currents = weights.new_zeros(batch, num_outputs, num_steps * num_terms)
    currents = currents.scatter_add(2, position.expand(batch, num_outputs, -1), source.reshape(batch, num_outputs, -1))
    return currents.view(batch, num_outputs, num_steps, num_terms)


@functools.lru_cache(maxsize=64)
def _scan_matrices(
    coefficients: tuple[float, ...], decays: tuple[float, ...], num_chunks: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The small constant matrices of the blocked scan (see :func:`filter_currents`), built in float64."""
    decays = torch.tensor(decays, dtype=torch.float64)
    coefficients = torch.tensor(coefficients, dtype=torch.float64)
    lag = torch.arange(CHUNK, dtype=torch.float64)
    lag_matrix = lag[:, None] - lag[None, :]  # [q, p] -> q - p
    causal = lag_matrix >= 0
    # within[(p, c), q] = coef_c * d_c^(q - p) for q >= p: response at step q of input at step p.
    powers = decays[:, None, None] ** lag_matrix.clamp(min=0)  # [C, q, p]
    within = (coefficients[:, None, None] * powers * causal).permute(2, 0, 1).reshape(-1, CHUNK)
    # chunk_end[(p, c), c'] = d_c^(CHUNK-1-p) [c == c']: each term's state at the chunk's last step.
    tail = decays[:, None] ** (CHUNK - 1 - lag)  # [C, p]
    chunk_end = torch.diag_embed(tail.t())  # [p, C, C]
    chunk_end = chunk_end.reshape(-1, len(decays))
    # carry[c, j, j'] = (d_c^CHUNK)^(j - j') for j >= j': state at the end of chunk j from chunk j'.
    chunk_lag = torch.arange(num_chunks, dtype=torch.float64)
    chunk_lag = chunk_lag[:, None] - chunk_lag[None, :]
    carry = (decays[:, None, None] ** (CHUNK * chunk_lag.clamp(min=0))) * (chunk_lag >= 0)
    # entry[c, q] = coef_c * d_c^(q+1): what the previous chunk's final state adds at step q.
    entry = coefficients[:, None] * decays[:, None] ** (lag + 1)
    return tuple(m.to(dtype=dtype, device=device) for m in (within, chunk_end, carry, entry))


def filter_currents(currents: Tensor, kernel: ExponentialSumKernel, dt: float) -> Tensor:
    """Filter input currents [B, N_out, L, C] into voltages sum_c coef_c * A_c, [B, N_out, L].

    A_c[k] = d_c * A_c[k-1] + I_c[k] is evaluated exactly as a blocked scan: inside each
    chunk of CHUNK steps a small Toeplitz product, across chunks a product with the
    powers d_c^CHUNK, then each chunk adds the decayed state of the one before it.
    """
    batch, num_outputs, num_steps, num_terms = currents.shape
    num_chunks = math.ceil(num_steps / CHUNK)
    within, chunk_end, carry, entry = _scan_matrices(
        kernel.coefficients, kernel.decays(dt), num_chunks, currents.dtype, currents.device
    )
    padded = torch.nn.functional.pad(currents, (0, 0, 0, num_chunks * CHUNK - num_steps))
    blocks = padded.reshape(batch * num_outputs, num_chunks, CHUNK * num_terms)
    local = blocks @ within  # [M, n, CHUNK]: each chunk's response to its own input
    ends = blocks @ chunk_end  # [M, n, C]: each term's state at its chunk's end, from that chunk alone
    states = torch.einsum("mjc,cij->mic", ends, carry)  # full state at each chunk's end
    previous = torch.nn.functional.pad(states[:, :-1], (0, 0, 1, 0))  # state entering each chunk
    voltage = local + previous @ entry
    return voltage.reshape(batch, num_outputs, num_chunks * CHUNK)[:, :, :num_steps]


def voltage(
    spike_times: Tensor,
    weights: Tensor,
    kernel: ExponentialSumKernel,
    dt: float,
    num_steps: int,
    v_rest: float = 0.0,
) -> Tensor:
    """The voltage trace V[b, k, o] at t_k = k*dt for input spikes (times or raster) and weights [N_in, N_out].

    Differentiable in ``weights`` through ordinary autograd.
    """
    _, trace = _gridded_trace(spike_times, weights, kernel, dt, num_steps)
    return (trace + v_rest).transpose(1, 2)


def _gridded_trace(
    inputs: Tensor, weights: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int
) -> tuple[GriddedSpikes | Tensor, Tensor]:
    """The gridded spikes (or the raster) and the voltage above rest [B, N_out, L]: grid, project, filter."""
    if is_raster(inputs):
        _check_raster(inputs, num_steps)
        currents = raster_currents(inputs, weights, len(kernel.time_constants))
        return inputs, filter_currents(currents, kernel, dt)
    spikes = grid_spikes(inputs, kernel, dt, num_steps, weights.dtype)
    return spikes, filter_currents(input_currents(spikes, weights, num_steps), kernel, dt)


def kernel_at(
    spikes: GriddedSpikes, query_step: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int
) -> Tensor:
    """PSP of each afferent at a query step: P[b, i, o] = sum_j K(t_query[b, o] - t_i^j).

    ``query_step`` is [B, N_out] (grid steps). Uses the gridded phases, so it is exact for
    off-grid spikes: K(t_q - t) = sum_c coef_c * d_c^(q - step) * phase_c for q >= step.
    """
    lag = query_step[:, None, None, :] - spikes.step.long().unsqueeze(-1)  # [B, N_in, S, N_out]
    causal = lag >= 0
    lag = lag.clamp_(min=0)
    table = _kernel_table(kernel.coefficients, kernel.decays(dt), num_steps, spikes.phase.dtype, spikes.phase.device)
    total = table[0][lag] * spikes.phase[0, ..., None]
    for term in range(1, table.shape[0]):
        total += table[term][lag] * spikes.phase[term, ..., None]
    return (total * causal).sum(dim=2)


@functools.lru_cache(maxsize=64)
def _kernel_table(
    coefficients: tuple[float, ...], decays: tuple[float, ...], num_steps: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """table[c, n] = coef_c * d_c^n for n = 0 .. num_steps-1 (each term of K at n whole steps)."""
    lag = torch.arange(num_steps, dtype=torch.float64)
    table = torch.tensor(coefficients, dtype=torch.float64)[:, None] * torch.tensor(decays, dtype=torch.float64)[:, None] ** lag
    return table.to(dtype=dtype, device=device)


BACKENDS = ("auto", "compiled", "torch")


def resolve_backend(backend: str, weights: Tensor) -> str:
    """``compiled`` (the numba kernels of :mod:`lif.compiled`) for CPU tensors, else ``torch``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        return "compiled" if weights.device.type == "cpu" else "torch"
    if backend == "compiled" and weights.device.type != "cpu":
        raise ValueError("the compiled backend runs on the CPU; use backend='torch' on other devices")
    return backend


def _compiled_forward(inputs: Tensor, weights: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, v_rest: float):
    """v_max (with v_rest), max_step and what the backward pass needs, from the numba kernels."""
    from lif import compiled

    dtype = weights.dtype
    numpy_type = torch.empty(0, dtype=dtype).numpy().dtype
    coefficients = np.asarray(kernel.coefficients, dtype=numpy_type)
    exact_decays = np.asarray(kernel.decays(dt), dtype=np.float64)
    decays = exact_decays.astype(numpy_type)
    plain_weights = weights.detach().contiguous()
    if is_raster(inputs):
        _check_raster(inputs, num_steps)
        currents = raster_currents(inputs, plain_weights, len(decays)).permute(0, 2, 3, 1)  # [B, L, C, N_out], a view
        v_max, max_step = compiled.max_voltage_currents(currents.numpy(), coefficients, decays, float(v_rest))
        return torch.from_numpy(v_max), torch.from_numpy(max_step), (inputs,)
    times = inputs if inputs.dim() == 3 else inputs.unsqueeze(-1)
    times = times.detach().reshape(times.shape[0], -1).to(dtype).contiguous()  # [B, N_in * S]
    log_decays = np.log(exact_decays)
    v_max, max_step, steps, phases = compiled.max_voltage_spike_times(
        times.numpy(), plain_weights.numpy(), float(dt), int(num_steps), coefficients, decays,
        log_decays, compiled.exp_squarings(log_decays), float(v_rest),
    )
    return torch.from_numpy(v_max), torch.from_numpy(max_step), (torch.from_numpy(steps), torch.from_numpy(phases))


class _MaxVoltage(torch.autograd.Function):
    """V_max[b, o] = max_k V[b, k, o] with the closed-form gradient sum_j K(t_max - t_i^j)."""

    @staticmethod
    def forward(ctx, weights, inputs, kernel, dt, num_steps, v_rest, backend):
        ctx.raster = is_raster(inputs)
        ctx.backend = resolve_backend(backend, weights)
        if ctx.backend == "compiled":
            v_max, max_step, saved = _compiled_forward(inputs, weights, kernel, dt, num_steps, v_rest)
        else:
            spikes, trace = _gridded_trace(inputs, weights, kernel, dt, num_steps)
            v_max, max_step = trace.max(dim=-1)
            v_max = v_max + v_rest
            saved = (spikes,) if ctx.raster else (spikes.step, spikes.phase)
        ctx.save_for_backward(*saved, max_step)
        ctx.kernel, ctx.dt, ctx.num_steps, ctx.num_inputs = kernel, dt, num_steps, weights.shape[0]
        ctx.mark_non_differentiable(max_step)
        return v_max, max_step

    @staticmethod
    def backward(ctx, grad_v_max, _grad_max_step):
        *inputs, max_step = ctx.saved_tensors
        coefficients, decays = ctx.kernel.coefficients, ctx.kernel.decays(ctx.dt)
        table = _kernel_table(coefficients, decays, ctx.num_steps, grad_v_max.dtype, grad_v_max.device)  # coef_c d_c^n
        if ctx.raster:
            # sum_b g[b, o] sum_k raster[b, k, i] K(t_max[b, o] - t_k), as one matrix product
            (raster,) = inputs
            lag = max_step.unsqueeze(-1) - torch.arange(ctx.num_steps, device=max_step.device)  # [B, N_out, L]
            window = table.sum(dim=0)[lag.clamp(min=0)] * (lag >= 0) * grad_v_max.unsqueeze(-1)
            grad_weights = torch.einsum("bki,bok->io", raster.to(grad_v_max.dtype), window)
        elif ctx.backend == "compiled":
            from lif import compiled

            steps, phases = inputs
            gradient = compiled.weight_gradient(
                steps.numpy(), phases.numpy(), max_step.numpy(), grad_v_max.detach().contiguous().numpy(),
                table.numpy(), steps.shape[1] // ctx.num_inputs, compiled.num_threads(),
            )
            grad_weights = torch.from_numpy(gradient)
        else:
            psp = kernel_at(GriddedSpikes(*inputs), max_step, ctx.kernel, ctx.dt, ctx.num_steps)  # [B, N_in, N_out]
            grad_weights = torch.einsum("bio,bo->io", psp, grad_v_max)
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
    ``backend``: ``auto`` runs the compiled kernels (:mod:`lif.compiled`) on the CPU and
    tensor operations elsewhere (CUDA); ``compiled`` or ``torch`` choose one.

    The gradient of V_max with respect to ``weights`` is the tempotron rule
    dV_max/dW[i, o] = sum_j K(t_max - t_i^j); the trace is not kept for the backward pass.
    """
    v_max, max_step = _MaxVoltage.apply(weights, spike_times, kernel, dt, num_steps, v_rest, backend)
    return v_max, max_step.to(v_max.dtype) * dt


def time_averaged_psp(inputs: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, dtype: torch.dtype) -> Tensor:
    """Each afferent's PSP averaged over the grid: P[b, i] = (1/L) sum_k sum_j K(t_k - t_i^j), [B, N_in].

    Closed form: a spike entering at step s with phase p_c adds
    sum_c coef_c p_c (1 - d_c^(L - s)) / (1 - d_c) summed over the grid.
    """
    coefficients = torch.tensor(kernel.coefficients, dtype=dtype, device=inputs.device)
    decays = torch.tensor(kernel.decays(dt), dtype=dtype, device=inputs.device)
    if is_raster(inputs):
        _check_raster(inputs, num_steps)
        table = _kernel_table(kernel.coefficients, kernel.decays(dt), num_steps, dtype, inputs.device).sum(dim=0)
        remaining = table.cumsum(dim=0).flip(0)  # a spike at step k adds sum_{n < L - k} K(n dt)
        return torch.einsum("bki,k->bi", inputs.to(dtype), remaining) / num_steps
    spikes = grid_spikes(inputs, kernel, dt, num_steps, dtype)
    steps_left = (num_steps - spikes.step.long()).to(dtype)  # [B, N_in, S]
    shape = (-1, 1, 1, 1)
    sums = spikes.phase * coefficients.view(shape) * (1 - decays.view(shape) ** steps_left) / (1 - decays.view(shape))
    return sums.sum(dim=(0, 3)) / num_steps


def mean_voltage(
    inputs: Tensor, weights: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, v_rest: float = 0.0
) -> Tensor:
    """The voltage averaged over the grid, <V>[b, o] = v_rest + sum_i P[b, i] W[i, o] (linear in W)."""
    return v_rest + time_averaged_psp(inputs, kernel, dt, num_steps, weights.dtype) @ weights


def spike_counts(inputs: Tensor, dt: float, num_steps: int) -> Tensor:
    """How many times each afferent fires during the pattern, [B, N_in].

    Counted are the spikes in [0, L*dt) that enter the grid (so not one in the last
    fraction of a step, nor padding); spikes before t = 0 drive V through their decayed
    phase but are not the pattern's own spikes and are not counted.
    """
    if is_raster(inputs):
        return inputs.sum(dim=1)
    positions = grid_positions(inputs if inputs.dim() == 3 else inputs.unsqueeze(-1), dt)
    inside = (positions >= 0) & (torch.ceil(positions) < num_steps)  # False for inf and NaN
    return inside.sum(dim=-1)
