"""CPU kernels compiled with numba: a spiking layer's scan over time, its backward pass through
time, and the event-driven projection of spikes. The tensor code that calls them:
:mod:`lif.stepped.layer` and :mod:`lif.stepped.projection`.

**Scan** (one pass forward over the grid, the patterns in parallel over the CPU's threads, the
neurons of a step contiguous in memory so that each step is one vectorised sweep). For a batch
of currents I[b, k, n] it runs, per neuron, the equations of :mod:`lif.stepped.lif`,
:mod:`lif.stepped.cuba` and :mod:`lif.stepped.alif` (u measured from rest):

    i[k] = d_s i[k-1] + I[k]                         (two-state models: cuba)
    u[k] = d_m u'[k-1] + c i[k-1] + D[k]             (cuba; D: the jumps of off-grid spikes)
    u[k] = d_m u'[k-1] + I[k]                        (lif, alif)
    a[k] = d_a a[k-1] + s[k-1],  theta[k] = theta_0 + beta a[k]     (alif; else theta = theta_0)
    s[k] = H(u[k] - theta[k]),   u'[k] = reset(u[k], s[k])
    reset: subtract u - theta_0 s | zero u + (u_reset - u) s | none u

in the same order of floating-point operations as the step functions, so that both give the
same spikes. It writes s[k] and u[k] (before the reset; and a[k] for alif): the backward needs
nothing else, and where they are not kept it runs the scan again, pattern by pattern, into one
scratch [L, N] per thread (the same operations: the same numbers).

**Backward** (one pass backward over the grid). With g[k] = surrogate'(u[k] - theta[k]) and
the adjoints G_x = dL/dx of the loss L, from k = L-1 down to 0:

    G_u'[k] = d_m G_u[k+1]
    G_s[k]  = dL/ds[k] + G_a[k+1] + (not detached) dR/ds G_u'[k]
    G_u[k]  = dL/du[k] + g[k] G_s[k] + dR/du G_u'[k]
    G_a[k]  = d_a G_a[k+1] - beta g[k] G_s[k]                       (alif)
    G_i[k]  = d_s G_i[k+1] + c G_u[k+1],   dL/dI[k] = G_i[k],  dL/dD[k] = G_u[k]     (cuba)
    dL/dI[k] = G_u[k]                                                (lif, alif)

with dR/du = 1 - s (zero) or 1, dR/ds = -theta_0 (subtract), u_reset - u (zero) or 0.
A recurrent layer's input is I[k] + s[k-1] @ R, added in the scan one row of R per spike of
the step before; backward, dL/ds[k-1] gains R dL/dI[k] (dense: every surrogate is nonzero) and
dL/dR gains s[k-1]^T dL/dI[k], one row per spike.

**Filter**: the non-spiking leaky-integrator output (:mod:`lif.stepped.li`, any kernel
K(t) = sum_c coef_c exp(-t / tau_c)) is V[k] = sum_c coef_c A_c[k], A_c[k] = d_c A_c[k-1] + I[k],
and backward dL/dI[k] = sum_c G_c[k], G_c[k] = coef_c dL/dV[k] + d_c G_c[k+1].

**Projection** of spikes through weights W [N_in, N_out], event-driven: for each row r (a
pattern at a step) only the inputs that spiked add their weight row,

    out[r] = sum_{i: x[r, i] != 0} x[r, i] W[i]        dL/dW[i] = sum_{r: x[r, i] != 0} x[r, i] G[r]

at a cost of (spikes x N_out) instead of the dense product's (rows x N_in x N_out). The nonzero
inputs are found once, as compressed rows (row_start, columns, values), which the forward and
the weight gradient both walk; a sparse bool raster is searched a 64-bit word (8 entries) at a
time, skipping the zero words. Input spike
*times* come as events (pattern b, input i, entry step k, value: the weight's factor, from the
spike's phases between grid points), scattered the same way into out[b, k].

**One pass** (:mod:`lif.stepped.fused`): a layer on a raster and the leaky integrators above it,
one pattern per thread at a time (:func:`readout_forward`, :func:`readout_backward`), composed
of the per-pattern pieces the kernels above are made of (:func:`raster_block_rows`,
:func:`project_row_block`, :func:`scan_pattern`, :func:`filter_pattern`, ...), so that a
pattern's [L, N] intermediates stay in the core's cache.

numba compiles each kernel once per argument types and caches the machine code on disk
(``python -m lif.exact`` fills the cache at install). This module imports nothing of the package.
"""

from __future__ import annotations

import numba
import numpy as np

JIT = dict(nogil=True, cache=True)

# surrogate derivatives, by number (lif.stepped.surrogates has their formulas)
FAST_SIGMOID, ATAN, SIGMOID, TRIANGLE, STRAIGHT_THROUGH = 0, 1, 2, 3, 4
# resets
SUBTRACT, ZERO, NONE = 0, 1, 2


@numba.njit(inline="always", **JIT)
def surrogate_derivative(kind, parameter, x, out):
    """out[n] = g(x[n]) for the surrogate ``kind`` with its steepness (or width) ``parameter``."""
    one = x.dtype.type(1.0)
    if kind == FAST_SIGMOID:
        for n in range(x.shape[0]):
            denominator = one + parameter * abs(x[n])
            out[n] = one / (denominator * denominator)
    elif kind == ATAN:
        scale = x.dtype.type(np.pi / 2) * parameter
        half = parameter / x.dtype.type(2.0)
        for n in range(x.shape[0]):
            z = scale * x[n]
            out[n] = half / (one + z * z)
    elif kind == SIGMOID:
        for n in range(x.shape[0]):
            sigma = one / (one + np.exp(-parameter * x[n]))
            out[n] = parameter * sigma * (one - sigma)
    elif kind == TRIANGLE:
        for n in range(x.shape[0]):
            out[n] = max(x.dtype.type(0.0), one - abs(x[n]) / parameter)
    else:
        for n in range(x.shape[0]):
            out[n] = one


# Inside the time loops arrays are indexed element by element, never sliced: a slice is a new
# array object whose reference count all threads update atomically (measured: 2-3x slower when
# sliced per step). The parallel kernels slice once per pattern or block of rows and pass the
# slices to the per-pattern functions below; a per-pattern function called in the backward's time
# order is inlined (called, the backward scan measured 11 ms against 7.5).


@numba.njit(**JIT)
def scan_pattern(
    current, direct, recurrent, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset,
    reset_level, spikes, voltages, adaptation,
):
    """One pattern's scan: fill spikes, voltages (u before the reset) and, adaptive, adaptation
    [L, N] from the currents [L, N] (and the direct jumps, or an empty array), plus, with
    recurrent weights R [N, N] (or an empty array), the recurrent input s[k-1] @ R, one row of R
    per spike."""
    num_steps, size = current.shape
    dtype = current.dtype
    zero, one = dtype.type(0.0), dtype.type(1.0)
    has_direct = direct.shape[0] > 0
    has_recurrent = recurrent.shape[0] > 0
    u = np.zeros(size, dtype=dtype)
    synaptic = np.zeros(size, dtype=dtype)
    a = np.zeros(size, dtype=dtype)
    previous = np.zeros(size, dtype=dtype)
    drive = np.empty(size, dtype=dtype)
    feedback = np.empty(size, dtype=dtype)
    for k in range(num_steps):
        if has_recurrent:
            for n in range(size):
                feedback[n] = zero
            if k > 0:
                for m in range(size):
                    if spikes[k - 1, m] != zero:
                        for n in range(size):
                            feedback[n] += recurrent[m, n]
            for n in range(size):
                drive[n] = current[k, n] + feedback[n]
        else:
            for n in range(size):
                drive[n] = current[k, n]
        if two_state:
            for n in range(size):
                voltages[k, n] = decay_m * u[n] + coupling * synaptic[n]
            if has_direct:
                for n in range(size):
                    voltages[k, n] = voltages[k, n] + direct[k, n]
            for n in range(size):
                synaptic[n] = decay_s * synaptic[n] + drive[n]
        else:
            for n in range(size):
                voltages[k, n] = decay_m * u[n] + drive[n]
        if adaptive:
            for n in range(size):
                a[n] = decay_a * a[n] + previous[n]
                adaptation[k, n] = a[n]
                spike = one if voltages[k, n] - (threshold + beta * a[n]) >= zero else zero
                spikes[k, n] = spike
                previous[n] = spike
        else:
            for n in range(size):
                spikes[k, n] = one if voltages[k, n] - threshold >= zero else zero
        if reset == SUBTRACT:
            for n in range(size):
                u[n] = voltages[k, n] - threshold * spikes[k, n]
        elif reset == ZERO:
            for n in range(size):
                u[n] = voltages[k, n] + (reset_level - voltages[k, n]) * spikes[k, n]
        else:
            for n in range(size):
                u[n] = voltages[k, n]


@numba.njit(**JIT)
def pattern(array, b):
    """array[b] of a [B, L, N] array, or an empty [0, 0] for an absent optional one (shape [0, 0, 0])."""
    if array.shape[0] > 0:
        return array[b]
    return np.empty((0, 0), dtype=array.dtype)


@numba.njit(**JIT)
def upstream(array, b):
    """Pattern b's rows of an upstream gradient [B', L', N] (B' = 1: the same rows for every
    pattern), or an empty [0, 0] for an absent one (shape [0, 0, 0])."""
    if array.shape[0] == 0:
        return np.empty((0, 0), dtype=array.dtype)
    return array[b if array.shape[0] > 1 else 0]


@numba.njit(**JIT)
def scratch(kept, wanted, num_chunks, num_steps, size):
    """One [L, N] scratch per block of patterns ([num_chunks, L, N]) standing in for a [B, L, N]
    array that is ``wanted`` but not kept (given empty); else an empty [0, 0, 0]."""
    blocks = num_chunks if wanted and kept.shape[0] == 0 else 0
    return np.empty((blocks, num_steps, size), dtype=kept.dtype)


@numba.njit(**JIT)
def rows(kept, scratch_rows, b, chunk):
    """Pattern b's rows of a kept [B, L, N] array, else block ``chunk``'s scratch (or an empty [0, 0])."""
    if kept.shape[0] > 0:
        return kept[b]
    return pattern(scratch_rows, chunk)


@numba.njit(parallel=True, **JIT)
def scan_forward(
    current, direct, recurrent, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset,
    reset_level, spikes, voltages, adaptation, num_chunks,
):
    """:func:`scan_pattern` of every pattern of currents [B, L, N], ``num_chunks`` blocks of
    patterns in parallel: fills spikes, voltages and (adaptive) adaptation [B, L, N]. Voltages
    given empty ([0, 0, 0]) are not kept: each block steps through one scratch [L, N] (and
    adaptation likewise). direct may be empty."""
    batch, num_steps, size = current.shape
    voltage_scratch = scratch(voltages, True, num_chunks, num_steps, size)
    adaptation_scratch = scratch(voltages, adaptive, num_chunks, num_steps, size)
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            scan_pattern(
                current[b], pattern(direct, b), recurrent, two_state, adaptive, decay_m, decay_s, coupling, decay_a,
                beta, threshold, reset, reset_level, spikes[b], rows(voltages, voltage_scratch, b, chunk),
                rows(adaptation, adaptation_scratch, b, chunk),
            )


@numba.njit(inline="always", **JIT)
def scan_pattern_backward(
    grad_spikes, grad_voltages, spikes, voltages, adaptation, recurrent_transposed, two_state, adaptive, decay_m,
    decay_s, coupling, decay_a, beta, threshold, reset, reset_level, detach_reset, surrogate, surrogate_parameter,
    grad_current, grad_direct, grad_recurrent,
):
    """One pattern's backward: fill grad_current (and, two-state with direct jumps, grad_direct)
    [L, N] from the gradients of the spikes and voltages (an empty grad_voltages: zero) and the
    forward's outputs, with the recurrent weights transposed, R^T [N, N] (or an empty array);
    add the pattern's share of the recurrent weights' gradient to grad_recurrent [N, N]."""
    num_steps, size = voltages.shape
    dtype = voltages.dtype
    zero, one = dtype.type(0.0), dtype.type(1.0)
    has_voltage_gradient = grad_voltages.shape[0] > 0
    has_direct = grad_direct.shape[0] > 0
    has_recurrent = recurrent_transposed.shape[0] > 0
    grad_u_next = np.zeros(size, dtype=dtype)  # dL/du[k+1]
    grad_synaptic_next = np.zeros(size, dtype=dtype)  # dL/di[k+1]
    grad_a_next = np.zeros(size, dtype=dtype)  # dL/da[k+1]
    grad_feedback = np.zeros(size, dtype=dtype)  # dL/ds[k] through the recurrent input of step k+1
    excess = np.empty(size, dtype=dtype)
    slope = np.empty(size, dtype=dtype)
    grad_s = np.empty(size, dtype=dtype)
    for k in range(num_steps - 1, -1, -1):
        if adaptive:
            for n in range(size):
                excess[n] = voltages[k, n] - (threshold + beta * adaptation[k, n])
        else:
            for n in range(size):
                excess[n] = voltages[k, n] - threshold
        surrogate_derivative(surrogate, surrogate_parameter, excess, slope)
        step = k if grad_spikes.shape[0] > 1 else 0  # one row for every step: a gradient uniform in time
        for n in range(size):
            grad_s[n] = grad_spikes[step, n] + grad_feedback[n]
        if adaptive:
            for n in range(size):
                grad_s[n] += grad_a_next[n]
        if not detach_reset:
            if reset == SUBTRACT:
                for n in range(size):
                    grad_s[n] -= threshold * (decay_m * grad_u_next[n])
            elif reset == ZERO:
                for n in range(size):
                    grad_s[n] += (reset_level - voltages[k, n]) * (decay_m * grad_u_next[n])
        if two_state:
            for n in range(size):
                grad_synaptic_next[n] = decay_s * grad_synaptic_next[n] + coupling * grad_u_next[n]
                grad_current[k, n] = grad_synaptic_next[n]
        if adaptive:
            for n in range(size):
                grad_a_next[n] = decay_a * grad_a_next[n] - beta * slope[n] * grad_s[n]
        if reset == ZERO:
            for n in range(size):
                grad_u_next[n] = slope[n] * grad_s[n] + decay_m * grad_u_next[n] * (one - spikes[k, n])
        else:
            for n in range(size):
                grad_u_next[n] = slope[n] * grad_s[n] + decay_m * grad_u_next[n]
        if has_voltage_gradient:
            step = k if grad_voltages.shape[0] > 1 else 0
            for n in range(size):
                grad_u_next[n] += grad_voltages[step, n]
        if two_state:
            if has_direct:
                for n in range(size):
                    grad_direct[k, n] = grad_u_next[n]
        else:
            for n in range(size):
                grad_current[k, n] = grad_u_next[n]
        if has_recurrent and k > 0:  # the drive of step k took s[k-1] @ R
            # dL/ds[k-1] = R @ G[k], as a sum of R^T's rows (a dot product per row would not vectorise)
            for m in range(size):
                grad_feedback[m] = zero
            for n in range(size):
                gradient = grad_current[k, n]
                for m in range(size):
                    grad_feedback[m] += recurrent_transposed[n, m] * gradient
            for m in range(size):
                if spikes[k - 1, m] != zero:
                    for n in range(size):
                        grad_recurrent[m, n] += grad_current[k, n]


@numba.njit(parallel=True, **JIT)
def scan_backward(
    grad_spikes, grad_voltages, spikes, voltages, adaptation, current, direct, recurrent, recurrent_transposed,
    two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset, reset_level, detach_reset,
    surrogate, surrogate_parameter, grad_current, grad_direct, num_chunks,
):
    """:func:`scan_pattern_backward` of every pattern [B, L, N], ``num_chunks`` blocks of
    patterns in parallel: fills grad_current (and grad_direct, unless empty) and returns the
    gradient of the recurrent weights (each block accumulates its own, then the sum; [0, 0]
    without them). The upstream gradients may be one row for all patterns or steps ([1, 1, N]:
    a gradient uniform over them, as of a sum) or empty. With the forward's spikes, voltages and
    adaptation given empty, each pattern's are computed again (:func:`scan_pattern` of current,
    direct and recurrent) into the block's scratch just before its backward pass."""
    batch, num_steps, size = grad_current.shape
    recompute = voltages.shape[0] == 0
    spike_scratch = scratch(spikes, True, num_chunks, num_steps, size)
    voltage_scratch = scratch(voltages, True, num_chunks, num_steps, size)
    adaptation_scratch = scratch(voltages, adaptive, num_chunks, num_steps, size)
    recurrent_size = recurrent_transposed.shape[0]
    partial = np.zeros((num_chunks, recurrent_size, recurrent_size), dtype=grad_current.dtype)
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            pattern_spikes = rows(spikes, spike_scratch, b, chunk)
            pattern_voltages = rows(voltages, voltage_scratch, b, chunk)
            pattern_adaptation = rows(adaptation, adaptation_scratch, b, chunk)
            if recompute:
                scan_pattern(
                    current[b], pattern(direct, b), recurrent, two_state, adaptive, decay_m, decay_s, coupling,
                    decay_a, beta, threshold, reset, reset_level, pattern_spikes, pattern_voltages, pattern_adaptation,
                )
            scan_pattern_backward(
                upstream(grad_spikes, b), upstream(grad_voltages, b), pattern_spikes, pattern_voltages,
                pattern_adaptation, recurrent_transposed, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta,
                threshold, reset, reset_level, detach_reset, surrogate, surrogate_parameter, grad_current[b],
                pattern(grad_direct, b), partial[chunk],
            )
    return partial.sum(axis=0)


@numba.njit(**JIT)
def filter_pattern(current, coefficients, decays, out):
    """One pattern's leaky integrators: out[k, o] = sum_c coef_c A_c[k], A_c[k] = d_c A_c[k-1] + I[k, o]."""
    num_steps, size = current.shape
    trace = np.zeros((decays.shape[0], size), dtype=current.dtype)
    for k in range(num_steps):
        for o in range(size):
            out[k, o] = 0
        for c in range(decays.shape[0]):
            for o in range(size):
                trace[c, o] = decays[c] * trace[c, o] + current[k, o]
                out[k, o] += coefficients[c] * trace[c, o]


@numba.njit(**JIT)
def filter_pattern_backward(grad_out, coefficients, decays, grad_current):
    """One pattern's dL/dI[k, o] = sum_c G_c[k], G_c[k] = coef_c dL/dV[k, o] + d_c G_c[k+1] (the filter run backwards)."""
    num_steps, size = grad_out.shape
    adjoint = np.zeros((decays.shape[0], size), dtype=grad_out.dtype)
    for k in range(num_steps - 1, -1, -1):
        for o in range(size):
            grad_current[k, o] = 0
        for c in range(decays.shape[0]):
            for o in range(size):
                adjoint[c, o] = coefficients[c] * grad_out[k, o] + decays[c] * adjoint[c, o]
                grad_current[k, o] += adjoint[c, o]


@numba.njit(parallel=True, **JIT)
def filter_forward(current, coefficients, decays, out):
    """:func:`filter_pattern` of every pattern of currents [B, L, O], in parallel."""
    for b in numba.prange(current.shape[0]):
        filter_pattern(current[b], coefficients, decays, out[b])


@numba.njit(parallel=True, **JIT)
def filter_backward(grad_out, coefficients, decays, grad_current):
    """:func:`filter_pattern_backward` of every pattern [B, L, O], in parallel."""
    for b in numba.prange(grad_out.shape[0]):
        filter_pattern_backward(grad_out[b], coefficients, decays, grad_current[b])


@numba.njit(inline="always", **JIT)
def raster_block_rows(flat, words, first_row, num_inputs, row_start, columns):
    """The True entries of the bool raster's rows first_row .. first_row + R - 1 as compressed rows:
    fill row_start [R + 1] and columns (row k's inputs that spiked: columns[row_start[k]:row_start[k + 1]],
    in order); return their number, or -1 when they are more than columns can hold.

    ``flat``: the raster [rows, N_in]'s bytes in C order (0 or 1); ``words``: its first
    8 * (size // 8) bytes as 64-bit words. A sparse raster is mostly zero words, passed over eight
    entries at a time (the bytes of a row before its first and after its last whole word one by
    one). Both passes over a row are free of branches on the data: the first writes every word's
    index and keeps it if the word is nonzero, the second every byte's column of those words and
    keeps it if the byte is 1 (measured: 35 % faster than testing each word and byte at 0.5 % of
    entries set, where the tests' outcomes cannot be predicted)."""
    capacity = columns.size
    found = np.empty(num_inputs // 8 + 1, dtype=np.int64)
    count = 0
    for k in range(row_start.size - 1):
        row_start[k] = count
        start = (first_row + k) * num_inputs
        stop = start + num_inputs
        first_word, end_word = (start + 7) // 8, stop // 8
        for position in range(start, min(stop, 8 * first_word)):
            if flat[position] != 0:
                if count == capacity:
                    return -1
                columns[count] = position - start
                count += 1
        nonzero = 0
        for w in range(first_word, end_word):
            found[nonzero] = w
            nonzero += words[w] != 0
        if count + 8 * nonzero <= capacity:
            for j in range(nonzero):
                for position in range(8 * found[j], 8 * found[j] + 8):
                    columns[count] = position - start
                    count += flat[position]
        else:  # near a full ``columns``: stop at its end
            for j in range(nonzero):
                for position in range(8 * found[j], 8 * found[j] + 8):
                    if flat[position] != 0:
                        if count == capacity:
                            return -1
                        columns[count] = position - start
                        count += 1
        for position in range(max(start, 8 * max(first_word, end_word)), stop):
            if flat[position] != 0:
                if count == capacity:
                    return -1
                columns[count] = position - start
                count += 1
    row_start[row_start.size - 1] = count
    return count


@numba.njit(**JIT)
def raster_rows(flat, words, num_inputs, capacity):
    """The True entries of a bool raster [R, N_in] as compressed rows (row_start [R + 1], columns):
    :func:`raster_block_rows` of all its rows, in one pass on one thread (measured: a counting pass
    first, to split the work between threads, costs more than it gains); an empty row_start when
    there are more than ``capacity``."""
    row_start = np.empty(flat.size // num_inputs + 1, dtype=np.int64)
    columns = np.empty(capacity, dtype=np.int64)
    count = raster_block_rows(flat, words, 0, num_inputs, row_start, columns)
    if count < 0:
        return np.empty(0, dtype=np.int64), columns[:0]
    return row_start, columns[:count]


@numba.njit(parallel=True, **JIT)
def value_rows(inputs):
    """The nonzero entries of inputs [R, N_in] (numbers) as compressed rows: (row_start [R + 1],
    columns, values), row r's being columns / values[row_start[r]:row_start[r + 1]], in order."""
    rows, num_inputs = inputs.shape
    row_start = np.zeros(rows + 1, dtype=np.int64)
    for r in numba.prange(rows):
        count = 0
        for i in range(num_inputs):
            count += inputs[r, i] != 0
        row_start[r + 1] = count
    for r in range(rows):
        row_start[r + 1] += row_start[r]
    columns = np.empty(row_start[rows], dtype=np.int64)
    values = np.empty(row_start[rows], dtype=inputs.dtype)
    for r in numba.prange(rows):
        e = row_start[r]
        for i in range(num_inputs):
            if inputs[r, i] != 0:
                columns[e] = i
                values[e] = inputs[r, i]
                e += 1
    return row_start, columns, values


@numba.njit(inline="always", **JIT)
def project_row_block(row_start, columns, values, weight, first_row, out):
    """out[k] = sum over row (first_row + k)'s entries e of values[e] W[columns[e]], for each row k of out."""
    num_outputs = weight.shape[1]
    for k in range(out.shape[0]):
        r = first_row + k
        for j in range(num_outputs):
            out[k, j] = 0
        for e in range(row_start[r], row_start[r + 1]):
            i, value = columns[e], values[e]
            for j in range(num_outputs):
                out[k, j] += value * weight[i, j]


@numba.njit(inline="always", **JIT)
def accumulate_row_block_gradient(row_start, columns, values, grad_out, first_row, grad_weight):
    """grad_weight[columns[e]] += values[e] G[k] over row (first_row + k)'s entries e, for each row k of G."""
    num_outputs = grad_out.shape[1]
    for k in range(grad_out.shape[0]):
        r = first_row + k
        for e in range(row_start[r], row_start[r + 1]):
            i, value = columns[e], values[e]
            for j in range(num_outputs):
                grad_weight[i, j] += value * grad_out[k, j]


ROW_BLOCK = 64  # rows per parallel task of the projection (a slice per block, not per row)


@numba.njit(parallel=True, **JIT)
def project_rows(row_start, columns, values, weight, out):
    """out[r] = sum over row r's entries e of values[e] W[columns[e]] (compressed rows of the inputs)."""
    rows = row_start.size - 1
    for block in numba.prange((rows + ROW_BLOCK - 1) // ROW_BLOCK):
        first = block * ROW_BLOCK
        project_row_block(row_start, columns, values, weight, first, out[first : min(rows, first + ROW_BLOCK)])


@numba.njit(parallel=True, **JIT)
def project_rows_weight_gradient(row_start, columns, values, grad_out, num_inputs, num_chunks):
    """dL/dW [N_in, N_out] = sum over the entries e of row r of values[e] G[r] at row columns[e]:
    each of ``num_chunks`` blocks of rows accumulates its own copy (no two threads write the
    same memory), then the sum."""
    rows, num_outputs = grad_out.shape
    partial = np.zeros((num_chunks, num_inputs, num_outputs), dtype=grad_out.dtype)
    per_chunk = (rows + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        first = chunk * per_chunk
        accumulate_row_block_gradient(
            row_start, columns, values, grad_out[first : min(rows, first + per_chunk)], first, partial[chunk]
        )
    return partial.sum(axis=0)


@numba.njit(inline="always", **JIT)
def row_buffers(flat, num_steps, num_inputs):
    """A thread's buffers for :func:`pattern_rows` (room for every input of a pattern; empty without a raster)."""
    room = num_steps * num_inputs if flat.size > 0 else 0
    return np.empty(num_steps + 1, dtype=np.int64), np.empty(room, dtype=np.int64)


@numba.njit(inline="always", **JIT)
def pattern_rows(
    flat, words, row_start, columns, values, b, num_steps, num_inputs, own_row_start, own_columns, ones, saved_row_start,
    saved_columns, find,
):
    """(row_start, columns, values, first row) of pattern b's compressed input rows: for an empty
    ``flat``, the given rows of every pattern; else those kept in pattern b's slot of saved_row_start
    [B, L + 1] and saved_columns [B, C] (a slot holds them when saved_row_start[b, 0] == 0), or, with
    ``find``, found in the raster's bytes (flat, words; rows b L .. b L + L - 1): into the slot where
    they fit, else into the thread's own buffers (the slot then marked -1)."""
    if flat.size == 0:
        return row_start, columns, values, b * num_steps
    has_slot = saved_columns.shape[0] > 0
    if find:
        if has_slot and raster_block_rows(flat, words, b * num_steps, num_inputs, saved_row_start[b], saved_columns[b]) >= 0:
            return saved_row_start[b], saved_columns[b], ones, 0
        if has_slot:
            saved_row_start[b, 0] = -1
    elif has_slot and saved_row_start[b, 0] == 0:
        return saved_row_start[b], saved_columns[b], ones, 0
    raster_block_rows(flat, words, b * num_steps, num_inputs, own_row_start, own_columns)
    return own_row_start, own_columns, ones, 0


@numba.njit(inline="always", **JIT)
def drive_and_scan(
    flat, words, row_start, columns, values, weight, b, own_row_start, own_columns, ones, saved_row_start, saved_columns,
    find, current, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset, reset_level, spikes,
    voltages, adaptation,
):
    """Pattern b's input currents [L, N] (its rows through W, into ``current``) and its scan (into
    spikes, voltages, adaptation [L, N]); returns the rows (:func:`pattern_rows`)."""
    rows = pattern_rows(flat, words, row_start, columns, values, b, current.shape[0], weight.shape[0], own_row_start,
                        own_columns, ones, saved_row_start, saved_columns, find)
    project_row_block(rows[0], rows[1], rows[2], weight, rows[3], current)
    no_state = np.empty((0, 0), dtype=current.dtype)
    scan_pattern(
        current, no_state, no_state, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset,
        reset_level, spikes, voltages, adaptation,
    )
    return rows


@numba.njit(inline="always", **JIT)
def spike_rows(spikes, flat, words, b, row_start, columns):
    """Pattern b's spikes [L, N] (numbers, 0 or 1) written as bytes at their place in ``flat``, the
    bytes of every pattern's spikes [B, L, N] (``words``: their 64-bit words), in one vectorised
    sweep, and returned as compressed rows (row_start [L + 1], columns) searched a word at a time
    (:func:`raster_block_rows`; measured: a test per number and entry costs twice as much at a few
    percent of neurons spiking per step)."""
    num_steps, size = spikes.shape
    zero = spikes.dtype.type(0.0)
    offset = b * num_steps * size
    for k in range(num_steps):
        for n in range(size):
            flat[offset + k * size + n] = np.uint8(1) if spikes[k, n] != zero else np.uint8(0)
    raster_block_rows(flat, words, b * num_steps, size, row_start, columns)


@numba.njit(inline="always", **JIT)
def find_peaks(voltages, peak, peak_step):
    """peak[o] = max_k V[k, o] and peak_step[o] its first step (torch.max's choice among equal maxima)."""
    for o in range(voltages.shape[1]):
        peak[o] = voltages[0, o]
        peak_step[o] = 0
    for k in range(1, voltages.shape[0]):
        for o in range(voltages.shape[1]):
            if voltages[k, o] > peak[o]:
                peak[o] = voltages[k, o]
                peak_step[o] = k


@numba.njit(parallel=True, **JIT)
def readout_forward(
    flat, words, row_start, columns, values, ones, weight, output_weight, coefficients, decays, two_state, adaptive, decay_m,
    decay_s, coupling, decay_a, beta, threshold, reset, reset_level, spikes, output_voltages, peak, peak_step,
    saved_row_start, saved_columns, num_chunks,
):
    """A spiking layer driven by its inputs through W [N_in, N]: a bool raster [B L, N_in] (flat,
    words: see :func:`raster_block_rows`; each pattern's rows found by the thread that runs it and
    kept, where they fit, in its slot of saved_row_start [B, L + 1] and saved_columns [B, C] for
    the backward; C = 0: none kept) or, for an empty ``flat``, compressed rows of every pattern
    (row b L + k: pattern b, step k), and the leaky integrators above it, one pattern at a time:
    fill the spikes as bytes [B, L, N] (0 or 1), the integrators' voltages from rest [B, L, O]
    (their currents: the spikes through W_out [N, O], added one row per spike; their kernel:
    coefficients and decays) and each output's maximum over time, peak and peak_step [B, O]
    (:func:`find_peaks`). ``ones``: at least max(L N_in, L N) of them, the values of a raster's
    and the hidden spikes' rows (given, not made per call: a fresh array is written page by page,
    measured as hundreds of page faults a step). The scan writes its spikes as numbers into the
    core's cache; only their bytes cross memory (measured: writing [B, L, N] in float32 cost
    0.6-0.9 of a 6.5 ms forward)."""
    batch, num_steps, size = spikes.shape
    dtype = output_voltages.dtype
    spike_bytes = spikes.reshape(-1)
    spike_words = spike_bytes[: spike_bytes.size // 8 * 8].view(np.uint64)
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        current = np.empty((num_steps, size), dtype=dtype)
        voltages = np.empty((num_steps, size), dtype=dtype)
        pattern_spikes = np.empty((num_steps, size), dtype=dtype)
        adaptation = np.empty((num_steps, size) if adaptive else (0, 0), dtype=dtype)
        output_current = np.empty((num_steps, output_weight.shape[1]), dtype=dtype)
        own_row_start, own_columns = row_buffers(flat, num_steps, weight.shape[0])
        hidden_row_start = np.empty(num_steps + 1, dtype=np.int64)
        hidden_columns = np.empty(num_steps * size, dtype=np.int64)
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            drive_and_scan(
                flat, words, row_start, columns, values, weight, b, own_row_start, own_columns, ones, saved_row_start,
                saved_columns, True, current, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold,
                reset, reset_level, pattern_spikes, voltages, adaptation,
            )
            spike_rows(pattern_spikes, spike_bytes, spike_words, b, hidden_row_start, hidden_columns)
            project_row_block(hidden_row_start, hidden_columns, ones, output_weight, 0, output_current)
            filter_pattern(output_current, coefficients, decays, output_voltages[b])
            find_peaks(output_voltages[b], peak[b], peak_step[b])


@numba.njit(inline="always", **JIT)
def output_gradient(grad_output_voltages, grad_peak, peak_step, b, k, o):
    """dL/dV[b, k, o] from the gradient of the voltages (an empty array: none) and of the peaks (at the peak step)."""
    gradient = grad_output_voltages[b, k, o] if grad_output_voltages.shape[0] > 0 else grad_peak.dtype.type(0.0)
    if k == peak_step[b, o]:
        gradient += grad_peak[b, o]
    return gradient


@numba.njit(parallel=True, **JIT)
def readout_backward(
    flat, words, row_start, columns, values, ones, weight, output_weight, coefficients, decays, two_state, adaptive, decay_m,
    decay_s, coupling, decay_a, beta, threshold, reset, reset_level, detach_reset, surrogate, surrogate_parameter,
    num_steps, peak_step, grad_counts, grad_output_voltages, grad_peak, saved_row_start, saved_columns, num_chunks,
):
    """The weight gradients (dL/dW [N_in, N], dL/dW_out [N, O]) of :func:`readout_forward` from
    dL/d(output voltages) [B, L, O] (or an empty array: zero), dL/d(peaks) [B, O] (at the forward's
    peak_step [B, O]) and dL/d(spike counts) [B, N] (or an empty array: zero), for patterns of
    ``num_steps`` steps. Each pattern's spikes and voltages are computed again from its input rows
    (those the forward kept, else found again in the raster; keeping the voltages [B, L, N]
    instead measured slower, reading them from memory costing more than the second scan in the
    core's cache). The gradient reaching the spikes through the integrators,
    dL/ds[k] = W_out dL/dI_out[k], runs as the filter backwards in the layer's space,
    A_c[k] = coef_c W_out dL/dV[k] + d_c A_c[k+1], dL/ds[k] = sum_c A_c[k], with one row of W_out^T
    per nonzero dL/dV (a max-over-time readout: one per output and pattern); and W_out's,
    dL/dW_out[n, o] = sum_k dL/dV[k, o] sum_c coef_c X_c[k, n], from the spikes filtered forward by
    the kernel's terms, X_c[k] = d_c X_c[k-1] + s[k], one row per nonzero dL/dV again (no search
    for the spikes)."""
    batch, size = peak_step.shape[0], weight.shape[1]
    num_outputs, num_terms = output_weight.shape[1], decays.shape[0]
    dtype = weight.dtype
    zero = dtype.type(0.0)
    no_state = np.empty((0, 0), dtype=dtype)
    has_count_gradient = grad_counts.shape[0] > 0
    output_weight_transposed = np.ascontiguousarray(output_weight.T)
    partial = np.zeros((num_chunks, weight.shape[0], size), dtype=dtype)
    partial_output = np.zeros((num_chunks, num_outputs, size), dtype=dtype)  # dL/dW_out transposed
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        current = np.empty((num_steps, size), dtype=dtype)
        voltages = np.empty((num_steps, size), dtype=dtype)
        recomputed_spikes = np.empty((num_steps, size), dtype=dtype)
        adaptation = np.empty((num_steps, size) if adaptive else (0, 0), dtype=dtype)
        grad_s = np.empty((num_steps, size), dtype=dtype)
        grad_current = np.empty((num_steps, size), dtype=dtype)
        trace = np.empty((num_terms, size), dtype=dtype)
        reverse = np.empty((num_terms, size), dtype=dtype)
        own_row_start, own_columns = row_buffers(flat, num_steps, weight.shape[0])
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            rows = drive_and_scan(
                flat, words, row_start, columns, values, weight, b, own_row_start, own_columns, ones, saved_row_start,
                saved_columns, False, current, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold,
                reset, reset_level, recomputed_spikes, voltages, adaptation,
            )
            for c in range(num_terms):
                for n in range(size):
                    trace[c, n] = zero
            for k in range(num_steps):
                for c in range(num_terms):
                    for n in range(size):
                        trace[c, n] = decays[c] * trace[c, n] + recomputed_spikes[k, n]
                for o in range(num_outputs):
                    gradient = output_gradient(grad_output_voltages, grad_peak, peak_step, b, k, o)
                    if gradient != zero:
                        for c in range(num_terms):
                            scaled = coefficients[c] * gradient
                            for n in range(size):
                                partial_output[chunk, o, n] += scaled * trace[c, n]
            for c in range(num_terms):
                for n in range(size):
                    reverse[c, n] = zero
            for k in range(num_steps - 1, -1, -1):
                for c in range(num_terms):
                    for n in range(size):
                        reverse[c, n] = decays[c] * reverse[c, n]
                for o in range(num_outputs):
                    gradient = output_gradient(grad_output_voltages, grad_peak, peak_step, b, k, o)
                    if gradient != zero:
                        for c in range(num_terms):
                            scaled = coefficients[c] * gradient
                            for n in range(size):
                                reverse[c, n] += scaled * output_weight_transposed[o, n]
                for n in range(size):
                    grad_s[k, n] = reverse[0, n]
                for c in range(1, num_terms):
                    for n in range(size):
                        grad_s[k, n] += reverse[c, n]
                if has_count_gradient:  # each spike adds 1 to its neuron's count
                    for n in range(size):
                        grad_s[k, n] += grad_counts[b, n]
            scan_pattern_backward(
                grad_s, no_state, recomputed_spikes, voltages, adaptation, no_state, two_state, adaptive, decay_m, decay_s,
                coupling, decay_a, beta, threshold, reset, reset_level, detach_reset, surrogate, surrogate_parameter,
                grad_current, no_state, no_state,
            )
            accumulate_row_block_gradient(rows[0], rows[1], rows[2], grad_current, rows[3], partial[chunk])
    return partial.sum(axis=0), np.ascontiguousarray(partial_output.sum(axis=0).T)


@numba.njit(parallel=True, **JIT)
def scatter_events(step, value, weight, out):
    """out[b, step[b, i, s]] += value[b, i, s] W[i] for every input event (input i's s-th spike in
    pattern b; value 0: none) into zeroed currents out [B, L, N]."""
    batch, num_inputs, per_input = step.shape
    size = weight.shape[1]
    for b in numba.prange(batch):
        for i in range(num_inputs):
            for s in range(per_input):
                scale = value[b, i, s]
                if scale != 0:
                    k = step[b, i, s]
                    for n in range(size):
                        out[b, k, n] += scale * weight[i, n]


@numba.njit(parallel=True, **JIT)
def gather_events(step, value, weight, grad_out, with_value_gradient, num_chunks):
    """The gradients of :func:`scatter_events`: dL/dW [N_in, N] = sum over events of value G[b, step]
    (each of ``num_chunks`` blocks of patterns accumulates its own, then the sum), and, if asked,
    dL/dvalue [B, N_in, S] = W[i] . G[b, step] (else an empty array)."""
    batch, num_inputs, per_input = step.shape
    size = weight.shape[1]
    dtype = grad_out.dtype
    partial = np.zeros((num_chunks, num_inputs, size), dtype=dtype)
    grad_value = np.zeros((batch, num_inputs, per_input) if with_value_gradient else (0, 0, 0), dtype=dtype)
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
            for i in range(num_inputs):
                for s in range(per_input):
                    k = step[b, i, s]
                    scale = value[b, i, s]
                    if scale != 0:
                        for n in range(size):
                            partial[chunk, i, n] += scale * grad_out[b, k, n]
                    if with_value_gradient:
                        total = dtype.type(0.0)
                        for n in range(size):
                            total += weight[i, n] * grad_out[b, k, n]
                        grad_value[b, i, s] = total
    grad_weight = partial[0].copy()
    for chunk in range(1, num_chunks):
        grad_weight += partial[chunk]
    return grad_weight, grad_value


def num_threads() -> int:
    return numba.get_num_threads()
