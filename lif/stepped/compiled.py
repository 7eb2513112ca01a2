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
nothing else.

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


# Inside the parallel loops arrays are indexed element by element, never sliced: a slice is a new
# array object whose reference count all threads update atomically (measured: 2-3x slower).


@numba.njit(parallel=True, **JIT)
def scan_forward(
    current, direct, recurrent, two_state, adaptive, decay_m, decay_s, coupling, decay_a, beta, threshold, reset,
    reset_level, spikes, voltages, adaptation,
):
    """Fill spikes, voltages (u before the reset) and, adaptive, adaptation [B, L, N] from the
    currents [B, L, N] (and the direct jumps, or an empty array), plus, with recurrent weights
    R [N, N] (or an empty array), the recurrent input s[k-1] @ R, one row of R per spike."""
    batch, num_steps, size = current.shape
    dtype = current.dtype
    zero, one = dtype.type(0.0), dtype.type(1.0)
    has_direct = direct.shape[0] > 0
    has_recurrent = recurrent.shape[0] > 0
    for b in numba.prange(batch):
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
                        if spikes[b, k - 1, m] != zero:
                            for n in range(size):
                                feedback[n] += recurrent[m, n]
                for n in range(size):
                    drive[n] = current[b, k, n] + feedback[n]
            else:
                for n in range(size):
                    drive[n] = current[b, k, n]
            if two_state:
                for n in range(size):
                    voltages[b, k, n] = decay_m * u[n] + coupling * synaptic[n]
                if has_direct:
                    for n in range(size):
                        voltages[b, k, n] = voltages[b, k, n] + direct[b, k, n]
                for n in range(size):
                    synaptic[n] = decay_s * synaptic[n] + drive[n]
            else:
                for n in range(size):
                    voltages[b, k, n] = decay_m * u[n] + drive[n]
            if adaptive:
                for n in range(size):
                    a[n] = decay_a * a[n] + previous[n]
                    adaptation[b, k, n] = a[n]
                    spike = one if voltages[b, k, n] - (threshold + beta * a[n]) >= zero else zero
                    spikes[b, k, n] = spike
                    previous[n] = spike
            else:
                for n in range(size):
                    spikes[b, k, n] = one if voltages[b, k, n] - threshold >= zero else zero
            if reset == SUBTRACT:
                for n in range(size):
                    u[n] = voltages[b, k, n] - threshold * spikes[b, k, n]
            elif reset == ZERO:
                for n in range(size):
                    u[n] = voltages[b, k, n] + (reset_level - voltages[b, k, n]) * spikes[b, k, n]
            else:
                for n in range(size):
                    u[n] = voltages[b, k, n]


@numba.njit(parallel=True, **JIT)
def scan_backward(
    grad_spikes, grad_voltages, spikes, voltages, adaptation, recurrent_transposed, two_state, adaptive, decay_m,
    decay_s, coupling, decay_a, beta, threshold, reset, reset_level, detach_reset, surrogate, surrogate_parameter,
    grad_current, grad_direct, num_chunks,
):
    """Fill grad_current (and, two-state with direct jumps, grad_direct) [B, L, N] from the
    gradients of the spikes and voltages (an empty grad_voltages: zero) and the forward's outputs,
    with the recurrent weights transposed, R^T [N, N] (or an empty array); return the gradient of
    the recurrent weights (each of ``num_chunks`` blocks of patterns accumulates its own, then
    the sum; [0, 0] without them)."""
    batch, num_steps, size = voltages.shape
    dtype = voltages.dtype
    zero, one = dtype.type(0.0), dtype.type(1.0)
    has_voltage_gradient = grad_voltages.shape[0] > 0
    has_direct = grad_direct.shape[0] > 0
    has_recurrent = recurrent_transposed.shape[0] > 0
    recurrent_size = size if has_recurrent else 0
    partial = np.zeros((num_chunks, recurrent_size, recurrent_size), dtype=dtype)
    per_chunk = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        for b in range(chunk * per_chunk, min(batch, (chunk + 1) * per_chunk)):
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
                        excess[n] = voltages[b, k, n] - (threshold + beta * adaptation[b, k, n])
                else:
                    for n in range(size):
                        excess[n] = voltages[b, k, n] - threshold
                surrogate_derivative(surrogate, surrogate_parameter, excess, slope)
                for n in range(size):
                    grad_s[n] = grad_spikes[b, k, n] + grad_feedback[n]
                if adaptive:
                    for n in range(size):
                        grad_s[n] += grad_a_next[n]
                if not detach_reset:
                    if reset == SUBTRACT:
                        for n in range(size):
                            grad_s[n] -= threshold * (decay_m * grad_u_next[n])
                    elif reset == ZERO:
                        for n in range(size):
                            grad_s[n] += (reset_level - voltages[b, k, n]) * (decay_m * grad_u_next[n])
                if two_state:
                    for n in range(size):
                        grad_synaptic_next[n] = decay_s * grad_synaptic_next[n] + coupling * grad_u_next[n]
                        grad_current[b, k, n] = grad_synaptic_next[n]
                if adaptive:
                    for n in range(size):
                        grad_a_next[n] = decay_a * grad_a_next[n] - beta * slope[n] * grad_s[n]
                if reset == ZERO:
                    for n in range(size):
                        grad_u_next[n] = slope[n] * grad_s[n] + decay_m * grad_u_next[n] * (one - spikes[b, k, n])
                else:
                    for n in range(size):
                        grad_u_next[n] = slope[n] * grad_s[n] + decay_m * grad_u_next[n]
                if has_voltage_gradient:
                    for n in range(size):
                        grad_u_next[n] += grad_voltages[b, k, n]
                if two_state:
                    if has_direct:
                        for n in range(size):
                            grad_direct[b, k, n] = grad_u_next[n]
                else:
                    for n in range(size):
                        grad_current[b, k, n] = grad_u_next[n]
                if has_recurrent and k > 0:  # the drive of step k took s[k-1] @ R
                    # dL/ds[k-1] = R @ G[k], as a sum of R^T's rows (a dot product per row would not vectorise)
                    for m in range(size):
                        grad_feedback[m] = zero
                    for n in range(size):
                        gradient = grad_current[b, k, n]
                        for m in range(size):
                            grad_feedback[m] += recurrent_transposed[n, m] * gradient
                    for m in range(size):
                        if spikes[b, k - 1, m] != zero:
                            for n in range(size):
                                partial[chunk, m, n] += grad_current[b, k, n]
    result = np.zeros((recurrent_size, recurrent_size), dtype=dtype)
    for chunk in range(num_chunks):
        result += partial[chunk]
    return result


@numba.njit(parallel=True, **JIT)
def filter_forward(current, coefficients, decays, out):
    """The leaky integrators' voltages out[b, k, o] = sum_c coef_c A_c[k], A_c[k] = d_c A_c[k-1] + I[b, k, o]."""
    batch, num_steps, size = current.shape
    num_terms = decays.shape[0]
    for b in numba.prange(batch):
        trace = np.zeros((num_terms, size), dtype=current.dtype)
        for k in range(num_steps):
            for o in range(size):
                out[b, k, o] = 0
            for c in range(num_terms):
                for o in range(size):
                    trace[c, o] = decays[c] * trace[c, o] + current[b, k, o]
                    out[b, k, o] += coefficients[c] * trace[c, o]


@numba.njit(parallel=True, **JIT)
def filter_backward(grad_out, coefficients, decays, grad_current):
    """dL/dI[b, k, o] = sum_c G_c[k], G_c[k] = coef_c dL/dV[b, k, o] + d_c G_c[k+1] (the filter run backwards)."""
    batch, num_steps, size = grad_out.shape
    num_terms = decays.shape[0]
    for b in numba.prange(batch):
        adjoint = np.zeros((num_terms, size), dtype=grad_out.dtype)
        for k in range(num_steps - 1, -1, -1):
            for o in range(size):
                grad_current[b, k, o] = 0
            for c in range(num_terms):
                for o in range(size):
                    adjoint[c, o] = coefficients[c] * grad_out[b, k, o] + decays[c] * adjoint[c, o]
                    grad_current[b, k, o] += adjoint[c, o]


@numba.njit(**JIT)
def raster_rows(flat, words, num_inputs, capacity):
    """The True entries of a bool raster [R, N_in] as compressed rows: (row_start [R + 1], columns),
    row r's inputs that spiked being columns[row_start[r]:row_start[r + 1]], in order; an empty
    row_start when there are more than ``capacity``.

    ``flat``: the raster's bytes in C order (0 or 1); ``words``: its first 8 * (size // 8) bytes
    as 64-bit words. A sparse raster is mostly zero words, passed over eight entries at a time,
    in one pass on one thread (measured: a counting pass first, to split the work between
    threads, costs more than it gains)."""
    size, num_words = flat.size, words.size
    num_rows = size // num_inputs
    row_start = np.empty(num_rows + 1, dtype=np.int64)
    columns = np.empty(capacity, dtype=np.int64)
    row_start[0] = 0
    row, next_row_at = 0, num_inputs  # the row being filled, and where the next one begins
    count = 0
    for w in range(num_words + 1):
        if w < num_words and words[w] == 0:
            continue
        for position in range(8 * w, min(8 * w + 8, size)):  # w = num_words: the bytes after the last word
            if flat[position] != 0:
                if count == capacity:
                    return np.empty(0, dtype=np.int64), columns[:0]
                while position >= next_row_at:
                    row += 1
                    row_start[row] = count
                    next_row_at += num_inputs
                columns[count] = position - (next_row_at - num_inputs)
                count += 1
    while row < num_rows:
        row += 1
        row_start[row] = count
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


@numba.njit(parallel=True, **JIT)
def project_rows(row_start, columns, values, weight, out):
    """out[r] = sum over row r's entries e of values[e] W[columns[e]] (compressed rows of the inputs)."""
    num_outputs = weight.shape[1]
    for r in numba.prange(row_start.size - 1):
        for j in range(num_outputs):
            out[r, j] = 0
        for e in range(row_start[r], row_start[r + 1]):
            i, value = columns[e], values[e]
            for j in range(num_outputs):
                out[r, j] += value * weight[i, j]


@numba.njit(parallel=True, **JIT)
def project_rows_weight_gradient(row_start, columns, values, grad_out, num_inputs, num_chunks):
    """dL/dW [N_in, N_out] = sum over the entries e of row r of values[e] G[r] at row columns[e]:
    each of ``num_chunks`` blocks of rows accumulates its own copy (no two threads write the
    same memory), then the sum."""
    rows, num_outputs = grad_out.shape
    partial = np.zeros((num_chunks, num_inputs, num_outputs), dtype=grad_out.dtype)
    per_chunk = (rows + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        for r in range(chunk * per_chunk, min(rows, (chunk + 1) * per_chunk)):
            for e in range(row_start[r], row_start[r + 1]):
                i, value = columns[e], values[e]
                for j in range(num_outputs):
                    partial[chunk, i, j] += value * grad_out[r, j]
    result = partial[0].copy()
    for chunk in range(1, num_chunks):
        result += partial[chunk]
    return result


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
