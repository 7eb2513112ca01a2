"""Simulation settings shared by every config group: the time grid, threshold and device.

The grid is t_k = k * dt for k = 0 .. L-1 with L = T / dt steps; T and dt are in ms.
Voltages are dimensionless: v_rest is the resting level, v_th the firing threshold and
v_reset the level a spiking neuron is set to after a spike (with ``reset: zero``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lif.errors import require

DEVICES = ("auto", "cpu", "cuda", "gpu", "mps")


def num_steps(T: float, dt: float) -> int:
    """L = T / dt, the number of grid points in [0, T); T must be a whole number of steps."""
    require(T > 0, "T", "a duration > 0 ms", T)
    require(0 < dt <= T, "dt", f"a time step in (0, T={T}] ms", dt)
    steps = round(T / dt)
    require(abs(steps * dt - T) <= 1e-6 * T, "dt", f"a divisor of T={T} ms (T/dt = {T / dt:g} is not whole)", dt)
    return steps


@dataclass(frozen=True)
class Environment:
    """The values the ``env`` config group holds; building it checks them."""

    T: float = 500.0
    dt: float = 1.0
    v_th: float = 1.0
    v_rest: float = 0.0
    v_reset: float = 0.0
    device: str = "auto"

    def __post_init__(self) -> None:
        num_steps(self.T, self.dt)
        require(self.v_th > self.v_rest, "v_th", f"a threshold above v_rest={self.v_rest}", self.v_th)
        require(self.v_reset < self.v_th, "v_reset", f"a reset level below v_th={self.v_th}", self.v_reset)
        require(self.device in DEVICES, "device", f"one of {', '.join(DEVICES)}", self.device)

    @property
    def num_steps(self) -> int:
        return num_steps(self.T, self.dt)
