"""CPU kernels compiled with numba: the tempotron's maximum voltage at the cost of the math.

The same exact computation as :mod:`lif.exact.scan`, fused instead of spread over tensor
operations, for groups of LANES patterns at once (the groups in parallel over the CPU's
threads):

0. grid: entry step k = ceil(t/dt) and phase p_c = exp(-(k dt - t)/tau_c) of every spike,
   in branch-free passes that the compiler vectorises. The exponential's argument lies in
   (-dt/tau_c, 0] (spikes before t = 0 add whole steps, d_c^n, separately), so it is a
   degree-12 Taylor polynomial of x / 2^m (|x / 2^m| <= 1/4, truncation below 1e-17)
   squared m times: accurate to a few ulp, like any libm exp, but only multiply-adds;
1. scatter: add W[i, o] * p_c into a per-group current buffer I[c, k, lane], one output
   at a time (64 KB for L = 500, in cache);
2. scan: the exact recursion A_c[k] = d_c A_c[k-1] + I[k, c, o] and
   V[k, o] = v_rest + sum_c coef_c A_c[k], keeping the running maximum and its step. The
   recursion is sequential in time, so it runs across the LANES patterns of a group in
   SIMD registers instead;
3. backward: dV_max/dW[i, o] = sum_j K(t_max - t_i^j)
   = sum_j sum_c coef_c d_c^(k_max - k_ij) p_c,ij (for k_ij <= k_max), from the saved steps
   and phases and a table of coef_c d_c^n.

Per pattern that is N_in * S * C * N_out scatters, L * C * N_out recursion steps and as
many multiply-adds in the backward pass as scatters: no [B, L, N_in] tensor anywhere.

numba compiles each kernel once per dtype and caches the machine code on disk (seconds the
very first time, then milliseconds; `python -m lif.exact` fills the
cache at install). This module imports nothing of the package: the tensor code calls it.
"""

from __future__ import annotations

import numba
import numpy as np

LANES = 16  # patterns scanned together: one AVX-512 register of float32
JIT = dict(nogil=True, cache=True)


@numba.njit(**JIT)
def _scan_group(current, count, coefficients, decays, v_rest, v_max, max_step, first, first_output):
    """Exact recursion over current[c, o, k, lane] for ``count`` lanes; results into rows
    first.. and columns first_output.. of v_max and max_step."""
    num_terms, num_outputs, num_steps, lanes = current.shape
    dtype = current.dtype
    state = np.zeros((num_terms, num_outputs, lanes), dtype=dtype)
    best = np.full((num_outputs, lanes), -np.inf, dtype=dtype)
    best_step = np.zeros((num_outputs, lanes), dtype=np.int64)
    volt = np.empty(lanes, dtype=dtype)
    for k in range(num_steps):
        for o in range(num_outputs):
            for lane in range(lanes):
                volt[lane] = v_rest
            for c in range(num_terms):
                decay, coefficient = decays[c], coefficients[c]
                row = current[c, o, k]
                for lane in range(lanes):
                    value = decay * state[c, o, lane] + row[lane]
                    state[c, o, lane] = value
                    volt[lane] += coefficient * value
            for lane in range(lanes):
                # strict: the first maximum, as torch.max; and like torch.max, NaN wins (the first)
                value, previous = volt[lane], best[o, lane]
                if value > previous or (value != value and previous == previous):
                    best[o, lane] = value
                    best_step[o, lane] = k
    for lane in range(count):
        for o in range(num_outputs):
            v_max[first + lane, first_output + o] = best[o, lane]
            max_step[first + lane, first_output + o] = best_step[o, lane]


TAYLOR = tuple(1.0 / float(np.prod(np.arange(1, n + 1))) for n in range(13))  # 1/n!, n = 0..12


def exp_squarings(log_decays: np.ndarray) -> np.ndarray:
    """m_c: how often to halve |log d_c| (the largest |argument|: one step of delay) to reach <= 1/4."""
    largest = np.maximum(-log_decays, 1e-300)
    return np.maximum(0, np.ceil(np.log2(largest / 0.25))).astype(np.int64)


MAX_SQUARINGS = 4  # |log d_c| <= 4: a kernel term decays by at most e^-4 per step


@numba.njit(inline="always", **JIT)
def _exp_small(y, squarings):
    """exp(y * 2^squarings) for |y| <= 1/4: Taylor polynomial of y, squared back (branch-free)."""
    p = TAYLOR[12] * y + TAYLOR[11]
    p = p * y + TAYLOR[10]
    p = p * y + TAYLOR[9]
    p = p * y + TAYLOR[8]
    p = p * y + TAYLOR[7]
    p = p * y + TAYLOR[6]
    p = p * y + TAYLOR[5]
    p = p * y + TAYLOR[4]
    p = p * y + TAYLOR[3]
    p = p * y + TAYLOR[2]
    p = p * y + TAYLOR[1]
    p = p * y + TAYLOR[0]
    p = p * p if squarings >= 1 else p
    p = p * p if squarings >= 2 else p
    p = p * p if squarings >= 3 else p
    return p * p if squarings >= 4 else p


@numba.njit(**JIT)  # not inlined: on its own the compiler vectorises its loops
def _grid_pattern(times, scale, last, log_decays, squarings, steps, phases, fractions):
    """Entry steps (-1: dropped) and phases [C, S] of one pattern's spike times [S] (ms)."""
    num_spikes = times.shape[0]
    before = 0  # any spike more than a step before t = 0? (an integer OR: it vectorises, a float min does not)
    for j in range(num_spikes):  # branch-free, so that it vectorises
        position = np.float64(times[j]) * scale  # in steps
        before |= position <= -1.0
        ceiling = np.ceil(position)
        inside = ceiling <= last and position > -np.inf  # False for NaN, +-inf and t >= L dt
        entry = max(ceiling, 0.0) if inside else 0.0  # spikes before t = 0 enter at step 0
        delay = entry - position if inside else 0.0  # steps from the spike to its entry, >= 0
        fractions[j] = delay - np.floor(delay)  # all of it, except for spikes before t = 0
        steps[j] = np.int32(entry) if inside else np.int32(-1)
    for c in range(log_decays.shape[0]):
        term = phases[c]  # a contiguous row: the loop below vectorises
        if squarings[c] <= MAX_SQUARINGS:
            factor, count = log_decays[c] * 0.5 ** squarings[c], squarings[c]
            for j in range(num_spikes):
                term[j] = _exp_small(fractions[j] * factor, count)
        else:
            for j in range(num_spikes):
                term[j] = np.exp(fractions[j] * log_decays[c])
    if before:  # spikes more than a step before t = 0: their whole steps too
        for j in range(num_spikes):
            position = np.float64(times[j]) * scale
            if position <= -1.0 and position > -np.inf:
                for c in range(log_decays.shape[0]):
                    phases[c, j] *= np.exp(np.floor(-position) * log_decays[c])


@numba.njit(**JIT)
def _scatter_pattern(steps, phases, weights, output, current, lane):
    """current[c, 0, k, lane] += W[i, output] * phase[c, j] for every spike j of afferent i entering at k.

    Terms are the outer loop and the spikes the long inner one (tiny inner loops cost more
    than the additions: measured 6x), each writing one contiguous [L, lanes] block.
    """
    num_inputs = weights.shape[0]
    per_input = steps.shape[0] // num_inputs
    for c in range(phases.shape[0]):
        row = phases[c]
        block = current[c, 0]
        if per_input == 1:
            for i in range(num_inputs):
                k = steps[i]
                if k >= 0:
                    block[k, lane] += weights[i, output] * row[i]
        else:
            for i in range(num_inputs):
                weight = weights[i, output]
                for j in range(i * per_input, (i + 1) * per_input):
                    k = steps[j]
                    if k >= 0:
                        block[k, lane] += weight * row[j]


@numba.njit(parallel=True, **JIT)
def max_voltage_spike_times(times, weights, dt, num_steps, coefficients, decays, log_decays, squarings, v_rest):
    """(v_max [B, O], max_step [B, O], steps [B, N*S] (-1: dropped), phases [B, C, N*S]).

    ``times`` [B, N*S] in ms (the S spikes of afferent i at columns i*S ... i*S+S-1);
    ``weights`` [1, N, O] (shared) or [B, N, O] (each pattern's own);
    ``log_decays`` = log d_c and ``squarings`` = :func:`exp_squarings` (float64, computed once).
    The gridding runs in float64; phases are stored in the weights' dtype.
    """
    batch, num_spikes = times.shape
    num_outputs = weights.shape[2]
    num_terms = decays.shape[0]
    dtype = weights.dtype
    v_max = np.empty((batch, num_outputs), dtype=dtype)
    max_step = np.zeros((batch, num_outputs), dtype=np.int64)
    steps = np.empty((batch, num_spikes), dtype=np.int32)
    phases = np.empty((batch, num_terms, num_spikes), dtype=dtype)
    for group in numba.prange((batch + LANES - 1) // LANES):
        first = group * LANES
        count = min(LANES, batch - first)
        _grid_group(times, first, count, dt, num_steps, log_decays, squarings, steps, phases)
        # One output at a time: a [C, 1, L, LANES] buffer (64 KB for L = 500) stays in cache.
        current = np.empty((num_terms, 1, num_steps, LANES), dtype=dtype)
        for o in range(num_outputs):
            _scatter_group(steps, phases, weights, o, first, count, current)
            _scan_group(current, count, coefficients, decays, v_rest, v_max, max_step, first, o)
    return v_max, max_step, steps, phases


@numba.njit(**JIT)
def _grid_group(times, first, count, dt, num_steps, log_decays, squarings, steps, phases):
    """Grid the spike times of patterns first .. first+count-1 into their rows of steps and phases."""
    fractions = np.empty(times.shape[1], dtype=np.float64)
    for b in range(first, first + count):
        _grid_pattern(times[b], 1.0 / dt, float(num_steps - 1), log_decays, squarings, steps[b], phases[b], fractions)


@numba.njit(**JIT)
def _scatter_group(steps, phases, weights, output, first, count, current):
    """current[c, 0, k, lane] = the currents into ``output`` of patterns first+lane (zeros elsewhere).

    ``weights`` [1, N, O] are shared by the batch; [B, N, O] are each pattern's own."""
    current[:] = 0.0
    for lane in range(count):
        b = first + lane
        _scatter_pattern(steps[b], phases[b], weights[b % weights.shape[0]], output, current, lane)


@numba.njit(**JIT)
def _voltage_trace_group(current, coefficients, decays, v_rest, trace, top):
    """V_k of current[c, 0, k, lane] (one output) into trace[k, lane] [L, LANES], and each lane's
    maximum over k into top[lane]: the scan without branches, lane by lane."""
    num_terms, _, num_steps, lanes = current.shape
    state = np.zeros((num_terms, lanes), dtype=current.dtype)
    volt = np.empty(lanes, dtype=current.dtype)
    top[:] = -np.inf
    for k in range(num_steps):
        for lane in range(lanes):
            volt[lane] = v_rest
        for c in range(num_terms):
            decay, coefficient = decays[c], coefficients[c]
            row = current[c, 0, k]
            for lane in range(lanes):
                value = decay * state[c, lane] + row[lane]
                state[c, lane] = value
                volt[lane] += coefficient * value
        for lane in range(lanes):
            trace[k, lane] = volt[lane]
            top[lane] = max(top[lane], volt[lane])


@numba.njit(**JIT)
def _softmax_weights_group(current, count, coefficients, decays, v_rest, beta, smooth_max, first, output, trace, total):
    """h = (1/beta) log((1/L) sum_k exp(beta V_k)) of current[c, 0, k, lane] (one output) into
    smooth_max[first + lane, output], in two passes over the scratch trace[k, lane] [L, LANES]:
    the scan writes V_k and its maximum m, then u_k = exp(beta (V_k - m)) <= 1 replaces it and
    total[lane] = S = sum_k u_k lies in [1, L], so that neither the exponentials nor
    h = m + log(S / L) / beta can overflow. The softmax weights are w_k = exp(beta (V_k - h)) / L = u_k / S."""
    num_steps, lanes = trace.shape
    dtype = trace.dtype
    top = np.empty(lanes, dtype=dtype)
    _voltage_trace_group(current, coefficients, decays, v_rest, trace, top)
    typed_beta = np.full(1, beta, dtype=dtype)  # exponentials of values <= 0 in the weights' dtype
    total[:] = 0.0
    for k in range(num_steps):
        for lane in range(lanes):
            value = np.exp(typed_beta[0] * (trace[k, lane] - top[lane]))
            trace[k, lane] = value
            total[lane] += value
    for lane in range(count):
        smooth_max[first + lane, output] = top[lane] + (np.log(total[lane]) - np.log(num_steps)) / beta


@numba.njit(**JIT)
def _sample_reverse_filter_group(steps, phases, trace, total, coefficients, decays, first, count, output, current, jacobian):
    """jacobian[b, output, i] = sum_k w_k dV_k/dW[i, output] for the weights w_k = u_k / S of
    trace[k, lane] = u_k and total[lane] = S: the u_k filtered backwards in time,
    R_c[k] = u_k + d_c R_c[k+1] (into current[c, 0]), sampled at afferent i's spikes j and
    divided by S: sum_j sum_c coef_c R_c[k_j] p_cj / S (as dV_k/dW = sum_j sum_c coef_c d_c^(k - k_j) p_cj
    for k >= k_j)."""
    num_steps = trace.shape[0]
    num_terms = decays.shape[0]
    num_inputs = jacobian.shape[2]
    per_input = steps.shape[1] // num_inputs
    running = np.empty(trace.shape[1], dtype=trace.dtype)
    for c in range(num_terms):
        decay = decays[c]
        running[:] = 0.0
        for k in range(num_steps - 1, -1, -1):
            for lane in range(count):
                running[lane] = decay * running[lane] + trace[k, lane]
                current[c, 0, k, lane] = running[lane]
    for lane in range(count):  # the spikes j of afferent i are j = i * per_input + s
        b = first + lane
        normaliser = total[lane]
        for i in range(num_inputs):
            value = 0.0
            for j in range(i * per_input, (i + 1) * per_input):
                k = steps[b, j]
                if k >= 0:
                    for c in range(num_terms):
                        value += coefficients[c] * current[c, 0, k, lane] * phases[b, c, j]
            jacobian[b, output, i] = value / normaliser


@numba.njit(parallel=True, **JIT)
def smooth_max_spike_times(times, weights, dt, num_steps, coefficients, decays, log_decays, squarings, v_rest, beta,
                           with_jacobian):
    """(h [B, O], jacobian): the smooth maximum of each output's voltage over the grid,
    h = (1/beta) log((1/L) sum_k exp(beta V_k)), and, ``with_jacobian``, dh[b, o]/dW[i, o] as
    [B, O, N] (else [0, O, N]). The spikes are gridded as in :func:`max_voltage_spike_times`.

    The Jacobian is the softmax-weighted average of kernel values, sum_k w_k dV_k/dW with
    w_k = exp(beta (V_k - h)) / L: computed here, while each group's weights are at hand, it
    needs no trace kept for the backward pass and no second scan."""
    batch, num_spikes = times.shape
    num_inputs, num_outputs = weights.shape[1], weights.shape[2]
    num_terms = decays.shape[0]
    dtype = weights.dtype
    smooth_max = np.empty((batch, num_outputs), dtype=dtype)
    steps = np.empty((batch, num_spikes), dtype=np.int32)
    phases = np.empty((batch, num_terms, num_spikes), dtype=dtype)
    jacobian = np.empty((batch if with_jacobian else 0, num_outputs, num_inputs), dtype=dtype)
    for group in numba.prange((batch + LANES - 1) // LANES):
        first = group * LANES
        count = min(LANES, batch - first)
        _grid_group(times, first, count, dt, num_steps, log_decays, squarings, steps, phases)
        current = np.empty((num_terms, 1, num_steps, LANES), dtype=dtype)
        trace = np.empty((num_steps, LANES), dtype=dtype)  # scratch of one output's V_k, then u_k
        total = np.empty(LANES, dtype=np.float64)
        for o in range(num_outputs):
            _scatter_group(steps, phases, weights, o, first, count, current)
            _softmax_weights_group(current, count, coefficients, decays, v_rest, beta, smooth_max, first, o, trace, total)
            if with_jacobian:
                _sample_reverse_filter_group(steps, phases, trace, total, coefficients, decays, first, count, o, current,
                                             jacobian)
    return smooth_max, jacobian


@numba.njit(parallel=True, **JIT)
def max_voltage_currents(currents, coefficients, decays, v_rest):
    """(v_max [B, O], max_step [B, O]) for per-step input currents [B, L, C, O] (any strides)."""
    batch, num_steps, num_terms, num_outputs = currents.shape
    dtype = currents.dtype
    v_max = np.empty((batch, num_outputs), dtype=dtype)
    max_step = np.zeros((batch, num_outputs), dtype=np.int64)
    for group in numba.prange((batch + LANES - 1) // LANES):
        first = group * LANES
        count = min(LANES, batch - first)
        current = np.zeros((num_terms, num_outputs, num_steps, LANES), dtype=dtype)
        for lane in range(count):
            for k in range(num_steps):
                for c in range(num_terms):
                    for o in range(num_outputs):
                        current[c, o, k, lane] = currents[first + lane, k, c, o]
        _scan_group(current, count, coefficients, decays, v_rest, v_max, max_step, first, 0)
    return v_max, max_step


@numba.njit(parallel=True, **JIT)
def weight_gradient(steps, phases, max_step, grad_v_max, table, per_input, num_chunks):
    """sum_b g[b, o] sum_j sum_c table[c, k_max[b, o] - k_bj] p_bcj over spikes j with 0 <= k_bj <= k_max, [N, O].

    steps [B, N*S] (-1: dropped), phases [B, C, N*S]; spike j belongs to afferent j // per_input.

    Parallel over chunks of the batch, each with its own accumulator, summed at the end.
    """
    batch, num_spikes = steps.shape
    num_inputs = num_spikes // per_input
    num_outputs = max_step.shape[1]
    num_terms = table.shape[0]
    partial = np.zeros((num_chunks, num_outputs, num_inputs), dtype=phases.dtype)  # [O, N]: unit stride inside
    chunk_size = (batch + num_chunks - 1) // num_chunks
    for chunk in numba.prange(num_chunks):
        accumulator = partial[chunk]
        for b in range(chunk * chunk_size, min(batch, (chunk + 1) * chunk_size)):
            for o in range(num_outputs):
                gradient = grad_v_max[b, o]
                if gradient == 0:  # a correct pattern (hinge) contributes nothing
                    continue
                k_max = max_step[b, o]
                for c in range(num_terms):  # terms outside, spikes inside: long inner loops
                    kernel_term = table[c]
                    row = phases[b, c]
                    for j in range(num_spikes):
                        k = steps[b, j]
                        if k >= 0 and k <= k_max:
                            accumulator[o, j // per_input if per_input > 1 else j] += gradient * kernel_term[k_max - k] * row[j]
    return partial.sum(axis=0).T.copy()


@numba.njit(parallel=True, **JIT)
def psp_at_step(steps, phases, query_step, table, per_input):
    """P[b, i, o] = sum_j K(t_query[b, o] - t_i^j) = sum_j sum_c table[c, k_q - k_bj] p_bcj over the
    spikes j of afferent i with 0 <= k_bj <= k_q: each pattern's PSPs at its query steps [B, O]
    (the gradient of V(t_max) in per-pattern weights), [B, N, O]."""
    batch, num_spikes = steps.shape
    num_outputs = query_step.shape[1]
    num_terms = table.shape[0]
    psp = np.zeros((batch, num_outputs, num_spikes // per_input), dtype=phases.dtype)
    for b in numba.prange(batch):
        for o in range(num_outputs):
            k_query = query_step[b, o]
            row_out = psp[b, o]
            for c in range(num_terms):
                kernel_term, row = table[c], phases[b, c]
                for j in range(num_spikes):
                    k = steps[b, j]
                    if k >= 0 and k <= k_query:
                        row_out[j // per_input] += kernel_term[k_query - k] * row[j]
    return psp.transpose(0, 2, 1).copy()


@numba.njit(parallel=True, **JIT)
def raster_counts(raster):
    """counts[b, i]: the spikes of afferent i in pattern b of a raster [B, L, N_in] (as uint8)."""
    batch, num_steps, num_inputs = raster.shape
    counts = np.zeros((batch, num_inputs), dtype=np.int64)
    for b in numba.prange(batch):
        for k in range(num_steps):
            for i in range(num_inputs):
                counts[b, i] += raster[b, k, i]
    return counts


def num_threads() -> int:
    return numba.get_num_threads()
