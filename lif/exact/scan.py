"""Exact membrane voltages of a layer of non-resetting LIF neurons driven by input spikes.

The voltage of output ``o`` on the time grid t_k = k*dt (k = 0 .. L-1, ms) is

    V_o(t_k) = v_rest + sum_i W[i, o] * sum_j K(t_k - t_i^j)

for a kernel K(s) = sum_c coef_c * exp(-s / tau_c) (:mod:`lif.kernels`). It is computed
*projection first, filter second*, never building a [batch, time, afferents] tensor:

1. grid the spikes (:mod:`lif.exact.grid`): entry step and phase factor of every spike;
2. project: scatter-add the weights into per-step input currents
   I_c[b, o, k] = sum over spikes entering at k of W[i, o] * phase_c   (cost B*N_in*N_out),
   or, when that is smaller, scatter the phases into a raster and multiply it by W once;
   a raster is projected by one matrix product, I[b, k, :] = raster[b, k, :] @ W;
3. filter: each term is the leaky trace A_c[k] = d_c * A_c[k-1] + I_c[k], d_c = exp(-dt/tau_c),
   and V = v_rest + sum_c coef_c * A_c. The recursion is evaluated in chunks of
   ``CHUNK`` steps with small matrix products (a blocked linear scan), which is exact
   and costs O(B * N_out * C * (L * CHUNK + (L / CHUNK)^2)) instead of a Python loop over time.

These are tensor operations, on any device, differentiable by autograd in the weights and
in the currents (:func:`filter_currents` is how a network's non-spiking output layer filters
its input). Training a tempotron needs only the maximum of the trace: :mod:`lif.exact.max_voltage`
computes it with a closed-form gradient (and on the CPU with the compiled kernels of
:mod:`lif.exact.compiled`). Memory of this path: the scatter and its backward materialise
O(B * N_in * S * C * N_out) (measured: 37 MiB for a binary and 178 MiB for a 10-output step
of 1024 patterns, against 6 MiB compiled; scripts/bench.py).
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from lif.exact.grid import GriddedSpikes, check_raster, grid_spikes, is_raster
from lif.kernels import ExponentialSumKernel

CHUNK = 32  # time steps per block of the blocked scan


def raster_currents(raster: Tensor, weights: Tensor, num_terms: int) -> Tensor:
    """Project a raster [B, L, N_in] by one matrix product: I[b, o, k, c] = sum_i raster[b, k, i] W[i, o]
    (``weights`` [N_in, N_out], or [B, N_in, N_out]: each pattern's own)."""
    batch, num_steps, num_inputs = raster.shape
    if weights.dim() == 3:
        projected = raster.to(weights.dtype) @ weights
    else:
        projected = (raster.to(weights.dtype).reshape(batch * num_steps, num_inputs) @ weights).view(batch, num_steps, -1)
    return projected.transpose(1, 2).unsqueeze(-1).expand(-1, -1, -1, num_terms)


def input_currents(spikes: GriddedSpikes, weights: Tensor, num_steps: int) -> Tensor:
    """Project weights onto the grid: I[b, o, k, c] = sum_{spikes entering at k} W[i, o] * phase_c.

    ``weights`` is [N_in, N_out] (or [B, N_in, N_out]: each pattern's own); the result
    [B, N_out, L, C] is differentiable in ``weights``.
    Two exact ways, whichever builds the smaller intermediate: a scatter-add of the weights
    of each spike, [B, N_out, N_in * S, C], or a raster of the phases [B, L, N_in, C] and one
    matrix product with the weights (many outputs, few steps: a network's first layer).
    """
    num_terms, batch, num_inputs, spikes_per_input = spikes.phase.shape
    num_outputs = weights.shape[-1]
    if num_steps <= num_outputs * spikes_per_input:
        raster = phase_raster(spikes, num_steps).transpose(2, 3)  # [B, L, C, N_in]
        return (raster @ (weights.unsqueeze(1) if weights.dim() == 3 else weights)).permute(0, 3, 1, 2)
    terms = torch.arange(num_terms, device=weights.device)
    # Flat position of (step, term) inside one output's [L, C] block.
    position = (spikes.step.long().unsqueeze(-1) * num_terms + terms).reshape(batch, 1, -1)
    phase = spikes.phase.permute(1, 2, 3, 0)  # [B, N_in, S, C]
    outgoing = weights.transpose(-1, -2) if weights.dim() == 3 else weights.t()[None]  # [B or 1, N_out, N_in]
    source = outgoing[:, :, :, None, None] * phase.unsqueeze(1)  # [B, N_out, N_in, S, C]
    currents = weights.new_zeros(batch, num_outputs, num_steps * num_terms)
    currents = currents.scatter_add(2, position.expand(batch, num_outputs, -1), source.reshape(batch, num_outputs, -1))
    return currents.view(batch, num_outputs, num_steps, num_terms)


def phase_raster(spikes: GriddedSpikes, num_steps: int) -> Tensor:
    """The gridded spikes as a dense raster of their phases, R[b, k, i, c] = sum_{spikes of i entering at k} phase_c."""
    num_terms, batch, num_inputs, spikes_per_input = spikes.phase.shape
    afferent = torch.arange(num_inputs, device=spikes.step.device).unsqueeze(-1)
    position = (spikes.step.long() * num_inputs + afferent).reshape(batch, 1, -1)  # flat (step, afferent)
    raster = spikes.phase.new_zeros(batch, num_terms, num_steps * num_inputs)
    raster.scatter_add_(2, position.expand(batch, num_terms, -1), spikes.phase.transpose(0, 1).reshape(batch, num_terms, -1))
    return raster.view(batch, num_terms, num_steps, num_inputs).permute(0, 2, 3, 1)


@functools.lru_cache(maxsize=64)
def _scan_matrices(
    coefficients: tuple[float, ...], decays: tuple[float, ...], num_chunks: int, dtype: torch.dtype, device: torch.device
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The small constant tensors of the blocked scan (see :func:`filter_currents`), built in float64."""
    coefficients = torch.tensor(coefficients, dtype=torch.float64)
    decays = torch.tensor(decays, dtype=torch.float64)
    lag = torch.arange(CHUNK, dtype=torch.float64)
    lag_matrix = lag[None, :] - lag[:, None]  # [p, q] -> q - p
    # within[c, p, q] = d_c^(q - p) for q >= p: term c's response at step q to a unit input at step p.
    within = decays[:, None, None] ** lag_matrix.clamp(min=0) * (lag_matrix >= 0)
    # carry[c, j, j'] = (d_c^CHUNK)^(j - j') for j >= j': state at the end of chunk j from chunk j'.
    chunk_lag = torch.arange(num_chunks, dtype=torch.float64)
    chunk_lag = chunk_lag[:, None] - chunk_lag[None, :]
    carry = (decays[:, None, None] ** (CHUNK * chunk_lag.clamp(min=0))) * (chunk_lag >= 0)
    # entry[q, c] = d_c^(q+1): what the previous chunk's final state of term c adds at step q.
    entry = decays[None, :] ** (lag[:, None] + 1)
    return tuple(m.to(dtype=dtype, device=device) for m in (coefficients, within, carry, entry))


def filter_currents(currents: Tensor, kernel: ExponentialSumKernel, dt: float) -> Tensor:
    """Filter input currents [B, N_out, L, C] into voltages sum_c coef_c * A_c, [B, N_out, L].

    A_c[k] = d_c * A_c[k-1] + I_c[k] is evaluated exactly as a blocked scan: inside each
    chunk of CHUNK steps a small Toeplitz product per term, across chunks a product with the
    powers d_c^CHUNK, then each chunk adds the decayed state of the one before it. The terms
    are combined with their coefficients last, elementwise, as the recursion does: where the
    kernel is 0 (the double exponential at lag 0) the voltage is exactly 0, not a rounding
    residue of a product summing +coef and -coef, which a max over time would pick from a
    tie at rest and send the gradient elsewhere than the compiled path does.
    """
    batch, num_outputs, num_steps, num_terms = currents.shape
    num_chunks = math.ceil(num_steps / CHUNK)
    coefficients, within, carry, entry = _scan_matrices(
        kernel.coefficients, kernel.decays(dt), num_chunks, currents.dtype, currents.device
    )
    padded = torch.nn.functional.pad(currents, (0, 0, 0, num_chunks * CHUNK - num_steps))
    blocks = padded.reshape(batch * num_outputs, num_chunks, CHUNK, num_terms)
    local = torch.einsum("mnpc,cpq->mnqc", blocks, within)  # each chunk's response to its own input
    states = torch.einsum("mjc,cij->mic", local[:, :, -1], carry)  # full state of each term at each chunk's end
    previous = torch.nn.functional.pad(states[:, :-1], (0, 0, 1, 0))  # state entering each chunk [M, n, C]
    terms = local + previous.unsqueeze(2) * entry  # [M, n, CHUNK, C]
    voltage = (terms * coefficients).sum(-1)
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
    _, trace = gridded_trace(spike_times, weights, kernel, dt, num_steps)
    return (trace + v_rest).transpose(1, 2)


def gridded_trace(
    inputs: Tensor, weights: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int
) -> tuple[GriddedSpikes | Tensor, Tensor]:
    """The gridded spikes (or the raster) and the voltage above rest [B, N_out, L]: grid, project, filter."""
    if is_raster(inputs):
        check_raster(inputs, num_steps)
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
    table = kernel_table(kernel.coefficients, kernel.decays(dt), num_steps, spikes.phase.dtype, spikes.phase.device)
    total = table[0][lag] * spikes.phase[0, ..., None]
    for term in range(1, table.shape[0]):
        total += table[term][lag] * spikes.phase[term, ..., None]
    return (total * causal).sum(dim=2)


@functools.lru_cache(maxsize=64)
def kernel_table(
    coefficients: tuple[float, ...], decays: tuple[float, ...], num_steps: int, dtype: torch.dtype, device: torch.device
) -> Tensor:
    """table[c, n] = coef_c * d_c^n for n = 0 .. num_steps-1 (each term of K at n whole steps)."""
    lag = torch.arange(num_steps, dtype=torch.float64)
    table = torch.tensor(coefficients, dtype=torch.float64)[:, None] * torch.tensor(decays, dtype=torch.float64)[:, None] ** lag
    return table.to(dtype=dtype, device=device)


def time_averaged_psp(inputs: Tensor, kernel: ExponentialSumKernel, dt: float, num_steps: int, dtype: torch.dtype) -> Tensor:
    """Each afferent's PSP averaged over the grid: P[b, i] = (1/L) sum_k sum_j K(t_k - t_i^j), [B, N_in].

    Closed form: a spike entering at step s with phase p_c adds
    sum_c coef_c p_c (1 - d_c^(L - s)) / (1 - d_c) summed over the grid.
    """
    coefficients = torch.tensor(kernel.coefficients, dtype=dtype, device=inputs.device)
    decays = torch.tensor(kernel.decays(dt), dtype=dtype, device=inputs.device)
    if is_raster(inputs):
        check_raster(inputs, num_steps)
        table = kernel_table(kernel.coefficients, kernel.decays(dt), num_steps, dtype, inputs.device).sum(dim=0)
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
