"""Surrogate gradients of the spike nonlinearity (the ``surrogate`` config group).

A neuron spikes when its voltage reaches the threshold: with x = v - threshold
(dimensionless, in the units of the voltage),

    forward:   s = H(x) = 1 if x >= 0 else 0          (exact: the simulation is unchanged)
    backward:  ds/dx := g(x)                            (H' is a Dirac delta: zero almost everywhere)

so backpropagation through time sees a smooth stand-in g for the delta. Each surrogate is one g:

    fast_sigmoid      g(x) = 1 / (1 + slope |x|)^2                       SuperSpike (Zenke & Ganguli 2018); peak 1
    atan              g(x) = (alpha / 2) / (1 + (pi/2 alpha x)^2)        arctangent (Fang et al. 2021); peak alpha / 2
    sigmoid           g(x) = slope sigma(slope x) (1 - sigma(slope x))    derivative of the logistic sigma; peak slope / 4
    triangle          g(x) = max(0, 1 - |x| / width)                      piecewise linear (Bellec et al. 2018); peak 1
    straight_through  g(x) = 1                                            straight-through estimator (Bengio et al. 2013)

The defaults (slope 25, alpha 2) are snnTorch's. A surrogate object is called on x and returns
the spikes; ``derivative(x)`` is g itself (the tests compare the backward pass with it).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lif.errors import require


class _Heaviside(torch.autograd.Function):
    """s = H(x) forward; ds/dx = surrogate.derivative(x) backward."""

    @staticmethod
    def forward(ctx, x: Tensor, surrogate: "Surrogate") -> Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_spikes: Tensor) -> tuple[Tensor, None]:
        (x,) = ctx.saved_tensors
        return grad_spikes * ctx.surrogate.derivative(x), None


class Surrogate:
    """The Heaviside step with a surrogate derivative; subclasses define ``derivative``."""

    name = "surrogate"

    def __call__(self, x: Tensor) -> Tensor:
        return _Heaviside.apply(x, self)

    def derivative(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        settings = ", ".join(f"{key}={value:g}" for key, value in vars(self).items())
        return f"{self.name}({settings})"


class FastSigmoid(Surrogate):
    """SuperSpike: g(x) = 1 / (1 + slope |x|)^2."""

    name = "fast_sigmoid"

    def __init__(self, slope: float = 25.0) -> None:
        require(slope > 0, "slope", "a steepness > 0 (per unit of voltage)", slope)
        self.slope = float(slope)

    def derivative(self, x: Tensor) -> Tensor:
        return 1.0 / (1.0 + self.slope * x.abs()) ** 2


class Atan(Surrogate):
    """Arctangent: g(x) = (alpha / 2) / (1 + (pi/2 alpha x)^2), the derivative of atan(pi/2 alpha x) / pi."""

    name = "atan"

    def __init__(self, alpha: float = 2.0) -> None:
        require(alpha > 0, "alpha", "a steepness > 0 (per unit of voltage)", alpha)
        self.alpha = float(alpha)

    def derivative(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)


class Sigmoid(Surrogate):
    """Logistic: g(x) = slope sigma(slope x) (1 - sigma(slope x))."""

    name = "sigmoid"

    def __init__(self, slope: float = 25.0) -> None:
        require(slope > 0, "slope", "a steepness > 0 (per unit of voltage)", slope)
        self.slope = float(slope)

    def derivative(self, x: Tensor) -> Tensor:
        sigma = torch.sigmoid(self.slope * x)
        return self.slope * sigma * (1 - sigma)


class Triangle(Surrogate):
    """Piecewise linear: g(x) = max(0, 1 - |x| / width)."""

    name = "triangle"

    def __init__(self, width: float = 1.0) -> None:
        require(width > 0, "width", "a half-width > 0 (in units of voltage)", width)
        self.width = float(width)

    def derivative(self, x: Tensor) -> Tensor:
        return torch.clamp(1 - x.abs() / self.width, min=0)


class StraightThrough(Surrogate):
    """Straight-through: g(x) = 1 (the gradient passes the step unchanged)."""

    name = "straight_through"

    def derivative(self, x: Tensor) -> Tensor:
        return torch.ones_like(x)
