"""Run a spiking layer over the grid by the fastest exact path: the compiled scan or the time loop.

:func:`run_layer` returns the same spikes [B, L, N] and voltages V[k] = v_rest + u[k] (before the
reset) as :func:`lif.stepped.simulate.simulate`, the plain time loop that is its reference, and
the same gradients. On the CPU, for the built-in neurons (``lif``, ``cuba``, ``alif``) and
surrogates with fixed time constants, it runs the compiled forward scan and its backward through
time (:mod:`lif.stepped.compiled`): one pass each way, keeping only the spikes and voltages (and
ALIF's adaptation) for the backward instead of autograd's dozen tensors per step; a layer whose
voltages nobody reads (``keep_voltages=False``) keeps nothing but its inputs, and the backward
steps each pattern again, just before its pass back, into a scratch [L, N] that each thread
reuses (the scan's arithmetic twice, against a fresh [B, L, N] array written and read back). An
upstream gradient that repeats along patterns or steps (a sum's) is read as one row, never
copied out to [B, L, N]. A recurrent layer's input s[k-1] @ R is added inside the scan, one row
of R per spike of the step before; its backward is R's product with the step's current
gradient, and R's gradient is accumulated per spike. Other devices (CUDA), learnable time constants and user-defined surrogates take the
time loop.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from lif.kernels import ExponentialSumKernel
from lif.stepped import compiled
from lif.stepped.alif import ALIFDynamics
from lif.stepped.cuba import CUBADynamics
from lif.stepped.lif import LIFDynamics
from lif.stepped.neuron import Neuron
from lif.stepped.simulate import simulate
from lif.stepped.surrogates import Atan, FastSigmoid, Sigmoid, StraightThrough, Surrogate, Triangle

RESETS = {"subtract": compiled.SUBTRACT, "zero": compiled.ZERO, "none": compiled.NONE}


class ScanConstants(NamedTuple):
    """A layer's step constants as the compiled kernels take them (numbers in the currents' dtype)."""

    two_state: bool
    adaptive: bool
    decay_m: float
    decay_s: float
    coupling: float
    decay_a: float
    beta: float
    threshold: float
    reset: int
    reset_level: float
    detach_reset: bool
    surrogate: int
    surrogate_parameter: float


def surrogate_form(surrogate: Surrogate) -> tuple[int, float] | None:
    """(number, parameter) of a built-in surrogate in :mod:`lif.stepped.compiled`; None for any other."""
    forms = {
        FastSigmoid: lambda: (compiled.FAST_SIGMOID, surrogate.slope),
        Atan: lambda: (compiled.ATAN, surrogate.alpha),
        Sigmoid: lambda: (compiled.SIGMOID, surrogate.slope),
        Triangle: lambda: (compiled.TRIANGLE, surrogate.width),
        StraightThrough: lambda: (compiled.STRAIGHT_THROUGH, 1.0),
    }
    form = forms.get(type(surrogate))
    return form() if form is not None else None


def scan_constants(neuron: Neuron) -> ScanConstants | None:
    """The compiled scan's constants for ``neuron``, or None where only the time loop applies."""
    if not neuron.spiking or neuron.learn_tau:
        return None
    dynamics = neuron.dynamics()
    adaptive = isinstance(dynamics, ALIFDynamics)
    membrane = dynamics.membrane if adaptive else dynamics
    if isinstance(membrane, CUBADynamics):
        integration = membrane.integration
        decays = (integration.decay_m, integration.decay_s, integration.coupling)
    elif isinstance(membrane, LIFDynamics):
        decays = (membrane.decay_m, 0.0, 0.0)
    else:
        return None
    form = surrogate_form(membrane.surrogate)
    if form is None:
        return None
    firing = membrane.firing
    # an infinite threshold never fires: no reset (and no inf * 0 in it)
    reset = RESETS[firing.reset] if math.isfinite(firing.threshold) or firing.reset != "subtract" else compiled.NONE
    return ScanConstants(
        isinstance(membrane, CUBADynamics), adaptive, *(float(value) for value in decays),
        float(dynamics.decay_a) if adaptive else 0.0, float(dynamics.beta) if adaptive else 0.0,
        firing.threshold, reset, firing.reset_level, firing.detach_reset, *form,
    )


def typed(constants: ScanConstants, dtype: np.dtype) -> tuple:
    """The constants as the kernels' arguments: flags as they are, numbers in the currents' dtype
    (so that float32 currents are stepped in float32 arithmetic, as the time loop steps them)."""
    return tuple(value if isinstance(value, (bool, int)) else dtype.type(value) for value in constants)


def empty_like_batch(array: np.ndarray) -> np.ndarray:
    """An empty stand-in (shape [0, ...]) for an absent optional array."""
    return np.empty((0,) * array.ndim, dtype=array.dtype)


def rows_of_upstream(gradient: Tensor | None, like: Tensor) -> np.ndarray:
    """An upstream gradient [B, L, N] as the backward kernel reads it: a dimension along which it
    does not change (stride 0, as a sum's gradient) as one row ([1, 1, N] for a sum), so that
    it is never copied out to [B, L, N]; an absent one as an empty array."""
    if gradient is None:
        return empty_like_batch(like.numpy())
    for dimension in (0, 1):
        if gradient.stride(dimension) == 0:
            gradient = gradient.narrow(dimension, 0, 1)
    return gradient.contiguous().numpy()


class CompiledScan(torch.autograd.Function):
    """(spikes, voltages from rest) of currents [B, L, N], direct jumps and recurrent weights [N, N],
    compiled forward and backward. With ``keep_voltages`` false the voltages are neither returned
    (None) nor kept: the backward computes them again from the currents, pattern by pattern
    (twice the scan's arithmetic, against a [B, L, N] array written and read once more)."""

    @staticmethod
    def forward(
        ctx, current: Tensor, direct: Tensor | None, recurrent_weight: Tensor | None, constants: ScanConstants,
        keep_voltages: bool,
    ):
        current_array = current.detach().contiguous().numpy()
        args = typed(constants, current_array.dtype)
        # only the two-state membrane takes direct jumps (a single exponential's spikes are exact on the grid)
        has_direct = direct is not None and constants.two_state
        direct_array = direct.detach().contiguous().numpy() if has_direct else empty_like_batch(current_array)
        recurrent = (
            recurrent_weight.detach().contiguous() if recurrent_weight is not None else current.new_empty((0, 0))
        )
        spikes = torch.empty_like(current)
        kept = current if keep_voltages else current.new_empty((0, 0, 0))
        voltages = torch.empty_like(kept)
        adaptation = torch.empty_like(kept) if constants.adaptive else current.new_empty((0, 0, 0))
        compiled.scan_forward(
            current_array, direct_array, recurrent.numpy(), *args[:10], spikes.numpy(), voltages.numpy(),
            adaptation.numpy(), compiled.num_threads(),
        )
        ctx.constants = constants
        ctx.has_direct = has_direct
        ctx.has_recurrent = recurrent_weight is not None
        if keep_voltages:
            ctx.save_for_backward(spikes, voltages, adaptation, recurrent)
        else:  # the inputs themselves, so that autograd refuses them changed in place before the backward
            ctx.save_for_backward(current, direct if has_direct else None, recurrent)
        ctx.keep_voltages = keep_voltages
        # An output no loss reads (the voltages, where a loss reads only spikes) gets None, not a
        # [B, L, N] tensor of zeros filled and read again (the profiler's fill_: ~1 ms of an onm-1024 step).
        ctx.set_materialize_grads(False)
        return spikes, (voltages if keep_voltages else None)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor | None, grad_voltages: Tensor | None):
        constants, saved = ctx.constants, ctx.saved_tensors
        empty = torch.empty(0, 0, 0, dtype=saved[-1].dtype)
        if ctx.keep_voltages:
            spikes, voltages, adaptation, recurrent = saved
            current = direct = empty
        else:
            current, direct, recurrent = saved
            spikes = voltages = adaptation = empty
            current = current.detach().contiguous()
            direct = direct.detach().contiguous() if direct is not None else empty
        like = voltages if ctx.keep_voltages else current
        if grad_spikes is None:
            grad_spikes = torch.zeros(1, 1, like.shape[2], dtype=like.dtype)
        grad_current = torch.empty_like(like)
        grad_direct = torch.empty_like(like) if ctx.has_direct else empty
        grad_recurrent = compiled.scan_backward(
            rows_of_upstream(grad_spikes, like), rows_of_upstream(grad_voltages, like), spikes.numpy(), voltages.numpy(),
            adaptation.numpy(), current.numpy(), direct.numpy(), recurrent.numpy(), recurrent.T.contiguous().numpy(),
            *typed(constants, like.numpy().dtype), grad_current.numpy(), grad_direct.numpy(), compiled.num_threads(),
        )
        return (
            grad_current, (grad_direct if ctx.has_direct else None),
            (torch.from_numpy(grad_recurrent) if ctx.has_recurrent else None), None, None,
        )


class CompiledFilter(torch.autograd.Function):
    """Voltages from rest [B, L, O] of leaky integrators with the kernel sum_c coef_c exp(-t / tau_c)
    driven by currents [B, L, O] (on the grid), compiled forward and backward."""

    @staticmethod
    def forward(ctx, current: Tensor, coefficients: np.ndarray, decays: np.ndarray) -> Tensor:
        out = torch.empty_like(current)
        compiled.filter_forward(current.detach().contiguous().numpy(), coefficients, decays, out.numpy())
        ctx.constants = coefficients, decays
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        grad_current = torch.empty_like(grad_out)
        compiled.filter_backward(grad_out.contiguous().numpy(), *ctx.constants, grad_current.numpy())
        return grad_current, None, None


def filter_constants(kernel: ExponentialSumKernel, dt: float, dtype: torch.dtype) -> tuple[np.ndarray, np.ndarray]:
    """The compiled filter's (coefficients, grid decays exp(-dt / tau_c)) of ``kernel``, in ``dtype``."""
    numpy_dtype = torch.empty(0, dtype=dtype).numpy().dtype
    coefficients = np.asarray(kernel.coefficients, dtype=numpy_dtype)
    return coefficients, np.asarray(kernel.decays(dt), dtype=np.float64).astype(numpy_dtype)


def filter_layer(current: Tensor, kernel: ExponentialSumKernel, dt: float) -> Tensor | None:
    """The voltages from rest [B, L, O] of leaky integrators with ``kernel`` driven by currents
    [B, L, O] on the grid, by the compiled filter; None where it does not apply (not the CPU)."""
    if current.device.type != "cpu" or current.dtype not in (torch.float32, torch.float64):
        return None
    return CompiledFilter.apply(current, *filter_constants(kernel, dt, current.dtype))


def compiled_constants(neuron: Neuron, current: Tensor, recurrent_weight: Tensor | None) -> ScanConstants | None:
    """The compiled scan's constants when it applies to this layer and input, else None."""
    if current.device.type != "cpu" or current.dtype not in (torch.float32, torch.float64):
        return None
    if recurrent_weight is not None and recurrent_weight.dtype != current.dtype:
        return None
    return scan_constants(neuron)


def run_layer(
    neuron: Neuron, current: Tensor, direct: Tensor | None = None, recurrent_weight: Tensor | None = None,
    keep_voltages: bool = True,
) -> tuple[Tensor | None, Tensor | None]:
    """(spikes [B, L, N] or None, voltages [B, L, N]) of a layer driven by currents [B, L, N]:
    the compiled scan where it applies, else the time loop (:func:`lif.stepped.simulate.simulate`).
    ``keep_voltages`` false: voltages None (a spiking layer whose voltages nobody reads; the
    compiled scan then keeps none for its backward either)."""
    constants = compiled_constants(neuron, current, recurrent_weight)
    if constants is None:
        spikes, voltages = simulate(neuron, current, direct, recurrent_weight)
        return spikes, (voltages if keep_voltages or spikes is None else None)
    spikes, voltages = CompiledScan.apply(current, direct, recurrent_weight, constants, keep_voltages)
    if voltages is None or not neuron.v_rest:
        return spikes, voltages
    return spikes, voltages + neuron.v_rest
