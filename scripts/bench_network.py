"""Benchmark training steps of spiking networks against snnTorch, Norse and SpikingJelly.

    python scripts/bench_network.py                        # every workload, peers, memory, scaling
    python scripts/bench_network.py --quick                # small sizes, few repeats (the test's run)
    python scripts/bench_network.py --workloads two-layer --only lif,snntorch --no-scaling --markdown
    python scripts/bench_network.py --from-json run.json --markdown
    python scripts/bench_network.py --device cuda --workloads onm-4096,onm-16384 --no-scaling   # on a GPU

Workloads (a training step is forward, loss, backward; float32; seconds per step):

  onm-N      the open-neuromorphic "SNN library benchmarks" network (Lenz et al. 2023): Linear(N, N) ->
             LIF, batch 16, 500 steps, input torch.randn(16, 500, N) (dense Gaussian currents, as there),
             loss = sum of the output spikes; N = 256, 1024, 4096. Differences from the original, kept the
             same for every library: no bias; one decay for all (0.95, snnTorch's beta there; the original
             gave each library its own); subtract reset; the input projected for all steps at once.
             onm-16384 (a GPU size: minutes a step on a CPU) only when named in --workloads.
  two-layer  700 -> 256 LIF -> 20 leaky integrators (non-spiking), 100 steps, batch 256, Bernoulli input
             spikes at 2 % per step, cross-entropy over the outputs' max-over-time voltage.
  yin-yang   5 -> 120 current-based LIF -> 3 leaky integrators with the double-exponential kernel
             (tau_m 15 ms, tau_s 3.75 ms), 60 steps, batch 32, one input spike per input at a random
             step in the first 30, max-over-time readout, cross-entropy (`python train.py experiment=yin_yang`).

Every LIF: threshold 1, exact decay d = exp(-dt/tau), the fast-sigmoid (SuperSpike) surrogate
1/(1 + |x|)^2 (slope 1: the only slope Norse's and SpikingJelly's SuperSpike give), the reset
differentiated through (Norse cannot detach it). Each peer is given the parameters that make its update
equal ours (see PEER NOTES in --help's epilog); before timing, every peer is run in float64 on a reduced
copy of the workload and its spikes, output voltages, loss and weight gradients are compared with this
project's (the script stops with a message and exit status 1 on a mismatch). Each implementation gets the
inputs in its own layout (time-first for the peers), made outside the timing. Timings are medians over
repeats with min-max, each implementation timed in one block of consecutive steps, in a fresh process
of its own for the workloads' tables (--same-process: one after another in this one; the scaling
points always so); ratios are
peer time / this project's time in the same run (> 1: this project is faster). Peak memory is the
extra resident memory of one training step in a fresh process (Linux: the high-water mark after
/proc/self/clear_refs); with --device cuda, the step's peak of allocated GPU memory above what was
allocated before it (torch.cuda.max_memory_allocated), and every step is timed to its end
(torch.cuda.synchronize). The GEMM line is torch.matmul's throughput on the onm workloads' projection
shape, measured in the same run; "GEMM share" is the time the two necessary products (forward and weight
gradient, 4 B L N^2 flop) would take at that throughput over the measured step time.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lif  # noqa: E402,F401  (before torch: sets OMP_WAIT_POLICY as the app runs it, see lif/__init__.py)
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import benchmarking  # noqa: E402

from lif.kernels import DoubleExponentialKernel, ExponentialKernel  # noqa: E402
from lif.models.network import Network, SpikingLayer  # noqa: E402
from lif.stepped.cuba import CUBA  # noqa: E402
from lif.stepped.lif import LIF  # noqa: E402
from lif.stepped.surrogates import FastSigmoid  # noqa: E402

PEER_NOTES = """peer formulations (d = exp(-dt/tau), ours: v[k] = d v[k-1] + I[k], spike v >= 1, v -= 1):
  snnTorch 1.0  Leaky(beta=d, reset_mechanism='subtract', reset_delay=False, spike_grad=fast_sigmoid(slope=1)):
                exactly ours (the default reset_delay=True subtracts the threshold one step late, after the
                decay; with reset_delay=False a membrane still above threshold after a reset is reset twice,
                which our inputs never reach in the check). The li output: Leaky(reset_mechanism='none').
                CUBA: Synaptic(alpha=d_s, beta=d_m) adds the current of the same step: ours with the input
                one step late and scaled by the coupling c (in the check the input is delayed; timed as is).
  Norse 1.1     Euler: v += dt tau_mem_inv (v_leak - v + i): tau_mem_inv = (1 - d)/dt gives decay d, the input
                scaled by 1/(1 - d) (folded into the weights; equal up to rounding, checked to 1e-9). LIFBoxCell with reset_method=reset_subtract is
                our LIF; LIBoxCell our li. Norse's SuperSpike ignores its alpha (gradient 1/(1+|x|)^2).
                CUBA: LIFCell (current jumps before the voltage update, like snnTorch's Synaptic) resets to
                v_reset only: checked against our CUBA with reset='zero'; timed with its zero reset.
                The li output of yin-yang: LICell (same jump order). Norse has no sequence module for the box
                cells in 1.1: the step loop is Python, as with snnTorch.
  SpikingJelly 2.0  LIFNode(tau=1/(1-d), decay_input=False, v_reset=None, detach_reset=False): v -= v/tau; v += x,
                decay d up to rounding (checked to 1e-9, not bit for bit); SuperSpike(alpha=1) is 1/(1+|x|)^2.
                Its li output: NonSpikingLIFNode (v += (x - v)/tau: input scaled by tau). No current-based LIF:
                CUBA is a NonSpikingLIFNode synaptic filter (tau_s) feeding a LIFNode, as snnTorch's Synaptic."""

DT = 1.0
SLOPE = 1.0  # the fast sigmoid's slope: the only one Norse's and SpikingJelly's SuperSpike give
ONM_DECAY = 0.95  # snnTorch's beta in the open-neuromorphic benchmark
TAU_HIDDEN, TAU_OUT = 20.0, 20.0  # two-layer, ms
YY_TAU_M, YY_TAU_S = 15.0, 3.75  # yin-yang, ms
IMPLEMENTATIONS = ("lif", "snntorch", "norse", "spikingjelly")


@dataclass(frozen=True)
class Spec:
    """One workload: kind onm | two-layer | yin-yang and its sizes."""

    kind: str
    batch: int
    steps: int
    inputs: int
    hidden: int
    outputs: int = 0
    rate: float = 0.0  # input spike probability per step (two-layer)
    device: str = "cpu"

    @property
    def name(self) -> str:
        return f"onm-{self.hidden}" if self.kind == "onm" else self.kind


WORKLOADS = {
    "onm-256": Spec("onm", 16, 500, 256, 256),
    "onm-1024": Spec("onm", 16, 500, 1024, 1024),
    "onm-4096": Spec("onm", 16, 500, 4096, 4096),
    "onm-16384": Spec("onm", 16, 500, 16384, 16384),
    "two-layer": Spec("two-layer", 256, 100, 700, 256, 20, 0.02),
    "yin-yang": Spec("yin-yang", 32, 60, 5, 120, 3),
}
GPU_ONLY = ("onm-16384",)  # measured only when named
QUICK = {  # small sizes: the test's run
    "onm-256": Spec("onm", 8, 50, 64, 64),
    "two-layer": Spec("two-layer", 16, 30, 700, 64, 20, 0.02),
    "yin-yang": Spec("yin-yang", 8, 60, 5, 120, 3),
}
SCALING = {  # on two-layer, the others fixed
    "steps": [100, 250, 500, 1000, 2000],
    "hidden": [64, 256, 1024, 2048],
    "batch": [16, 64, 256, 1024],
    "rate": [0.005, 0.01, 0.02, 0.05, 0.10, 0.20],
}
QUICK_SCALING = {"steps": [20, 40], "hidden": [32, 64], "batch": [8, 16], "rate": [0.01, 0.05]}
SCALING_FIELD = {"steps": "steps", "hidden": "hidden", "batch": "batch", "rate": "rate"}


def decay(tau: float) -> float:
    return math.exp(-DT / tau)


def tau_of(d: float) -> float:
    return -DT / math.log(d)


def reduced(spec: Spec) -> Spec:
    """The float64 check's copy of a workload: the same network, fewer steps and patterns."""
    if spec.kind == "onm":
        return replace(spec, batch=4, steps=min(spec.steps, 120), inputs=64, hidden=64)
    return replace(spec, batch=min(spec.batch, 16), steps=min(spec.steps, 60), hidden=min(spec.hidden, 64))


# --- inputs and this project's models ---------------------------------------------------------------

def make_inputs(spec: Spec, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Our layout [B, L, N]: Gaussian currents (onm), a bool raster (two-layer, yin-yang); class targets."""
    generator = torch.Generator().manual_seed(seed)
    shape = (spec.batch, spec.steps, spec.inputs)
    if spec.kind == "onm":
        return torch.randn(shape, generator=generator), None
    if spec.kind == "two-layer":
        raster = torch.rand(shape, generator=generator) < spec.rate
    else:  # one spike per input at a random step in the first half (at most 30)
        step = torch.randint(0, min(30, spec.steps), (spec.batch, spec.inputs), generator=generator)
        raster = torch.zeros(shape, dtype=torch.bool)
        raster.scatter_(1, step.unsqueeze(1), True)
    return raster, torch.randint(0, spec.outputs, (spec.batch,), generator=generator).to(spec.device)


def build_lif(spec: Spec, dtype: torch.dtype = torch.float32, reset: str = "subtract", seed: int = 0, gain: float = 1.0) -> nn.Module:
    """This project's model of a workload (its parameters are what every peer copies); ``gain`` scales the weights."""
    torch.manual_seed(seed)
    surrogate = FastSigmoid(SLOPE)
    if spec.kind == "onm":
        neuron = LIF(tau_m=tau_of(ONM_DECAY), reset=reset, detach_reset=False, surrogate=surrogate)
        # nn.Linear's default init (uniform +-1/sqrt(N), std 1/sqrt(3 N)), as in the original benchmark
        model = SpikingLayer(spec.inputs, spec.hidden, neuron, False, gain / math.sqrt(3), 0.0, 0.5)
    elif spec.kind == "two-layer":
        neuron = functools.partial(LIF, tau_m=TAU_HIDDEN, reset=reset, detach_reset=False, surrogate=surrogate)
        model = Network(spec.inputs, neuron, ExponentialKernel(TAU_OUT, v_0=1.0), hidden=[spec.hidden],
                        num_outputs=spec.outputs, readout="max", T=spec.steps * DT, dt=DT, init_gain=4.0 * gain)
    else:
        neuron = functools.partial(CUBA, tau_m=YY_TAU_M, tau_s=YY_TAU_S, reset=reset, detach_reset=False, surrogate=surrogate)
        model = Network(spec.inputs, neuron, DoubleExponentialKernel(YY_TAU_M, YY_TAU_S), hidden=[spec.hidden],
                        num_outputs=spec.outputs, readout="max", T=spec.steps * DT, dt=DT, init_gain=4.0 * gain)
    return model.to(device=spec.device, dtype=dtype)


def weights(model: nn.Module) -> list[torch.Tensor]:
    """[W_in [N_in, N_h]] (onm) or [W_in, W_out [N_h, O]]: what the peers copy."""
    if isinstance(model, SpikingLayer):
        return [model.weight]
    return [model.hidden[0].weight, model.weight]


class Ours:
    """A training step of this project's model: returns the loss and the traces the check compares."""

    def __init__(self, spec: Spec, dtype=torch.float32, reset: str = "subtract", gain: float = 1.0) -> None:
        self.spec, self.model = spec, build_lif(spec, dtype, reset, gain=gain)
        self.parameters = list(self.model.parameters())

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        inputs = inputs.to(self.spec.device)
        return inputs.to(self.parameters[0].dtype) if self.spec.kind == "onm" else inputs

    def __call__(self, inputs: torch.Tensor, targets: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        if self.spec.kind == "onm":
            spikes, _ = self.model(inputs @ self.model.weight, keep_voltages=False)
            return spikes.sum(), {"spikes": spikes}
        out = self.model(inputs)
        return F.cross_entropy(out.readout, targets), {"spikes": out.spikes[0], "output": out.voltages[-1]}


# --- peers: each takes our weights and the inputs time-first [L, B, N] ----------------------------------

def late(x: torch.Tensor) -> torch.Tensor:
    """[L, ...] one step late (a zero first step)."""
    return torch.cat([torch.zeros_like(x[:1]), x[:-1]])


def time_first(inputs: torch.Tensor, dtype: torch.dtype, delay: bool) -> torch.Tensor:
    """[L, B, N] in ``dtype``; ``delay``: one step late, for the check of cuba."""
    x = inputs.transpose(0, 1).to(dtype)  # (inputs on the device already)
    return (late(x) if delay else x).contiguous()


def linear(weight: torch.Tensor, scale: float = 1.0) -> nn.Linear:
    layer = nn.Linear(weight.shape[0], weight.shape[1], bias=False, dtype=weight.dtype, device=weight.device)
    with torch.no_grad():
        layer.weight.copy_(weight.t() * scale)
    return layer


def yin_yang_couplings(dtype) -> tuple[float, float]:
    """(hidden cuba coupling c, output kernel coupling v_0 (d_m - d_s)): ours adds c i[k-1]."""
    hidden = float(CUBA(tau_m=YY_TAU_M, tau_s=YY_TAU_S).integration().coupling)
    kernel = DoubleExponentialKernel(YY_TAU_M, YY_TAU_S)
    d_m, d_s = kernel.decays(DT)
    return hidden, kernel.v_0 * (d_m - d_s)


class Peer:
    """Base: ``layers`` (nn.Linear copies of our weights) and a step on time-first inputs."""

    def __init__(self, spec: Spec, ours: list[torch.Tensor], check: bool = False) -> None:
        self.spec, self.check = spec, check
        self.delay = check and spec.kind == "yin-yang"  # cuba: ours adds the current one step later
        self.build(ours)
        self.parameters = [p for layer in self.layers for p in layer.parameters()]

    def prepare(self, inputs: torch.Tensor) -> torch.Tensor:
        return time_first(inputs.to(self.spec.device), self.parameters[0].dtype, self.delay)

    def grads(self) -> list[torch.Tensor]:
        """Gradients in our layout (weights [N_in, N_out], input scaling undone)."""
        return [layer.weight.grad.t() * scale for layer, scale in zip(self.layers, self.scales)]

    def __call__(self, x: torch.Tensor, targets: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        if self.spec.kind == "onm":
            spikes = self.hidden(self.layers[0](x))
            return spikes.sum(), {"spikes": spikes.transpose(0, 1)}
        spikes = self.hidden(self.layers[0](x)).to(x.dtype)
        current = self.layers[1](spikes)
        output = self.output(late(current) if self.delay else current)  # [L, B, O]
        loss = F.cross_entropy(output.max(dim=0).values, targets)
        return loss, {"spikes": spikes.transpose(0, 1), "output": output.transpose(0, 1)}


class SnnTorch(Peer):
    def build(self, ours):
        import snntorch
        from snntorch import surrogate

        grad = surrogate.fast_sigmoid(slope=SLOPE)
        dtype = ours[0].dtype
        tensor = functools.partial(torch.tensor, dtype=dtype)  # a float beta would be a float32 tensor
        if self.spec.kind == "yin-yang":
            c_hidden, c_out = yin_yang_couplings(dtype)
            d_m, d_s = decay(YY_TAU_M), decay(YY_TAU_S)
            self.scales = [c_hidden, c_out]
            self.neuron = snntorch.Synaptic(alpha=tensor(d_s), beta=tensor(d_m), reset_mechanism="subtract", reset_delay=False, spike_grad=grad)
            self.li = snntorch.Synaptic(alpha=tensor(d_s), beta=tensor(d_m), reset_mechanism="none", spike_grad=grad)
        else:
            d_hidden = ONM_DECAY if self.spec.kind == "onm" else decay(TAU_HIDDEN)
            self.scales = [1.0, 1.0]
            self.neuron = snntorch.Leaky(beta=tensor(d_hidden), reset_mechanism="subtract", reset_delay=False, spike_grad=grad)
            self.li = snntorch.Leaky(beta=tensor(decay(TAU_OUT)), reset_mechanism="none", spike_grad=grad)
        self.layers = [linear(w, s) for w, s in zip(ours, self.scales)]
        self.neuron, self.li = self.neuron.to(ours[0].device, dtype), self.li.to(ours[0].device, dtype)

    def run(self, neuron, current, output):
        states = [torch.zeros_like(current[0])] * (2 if self.spec.kind == "yin-yang" else 1)  # Synaptic: syn, mem
        out = []
        for step in current.unbind(0):  # not current[k]: each index's backward writes a whole [L, B, N] zero tensor
            spike, *states = neuron(step, *states)
            out.append(states[-1] if output else spike)
        return torch.stack(out)

    def hidden(self, current):
        return self.run(self.neuron, current, False)

    def output(self, current):
        return self.run(self.li, current, True)


class Norse(Peer):
    def build(self, ours):
        import norse.torch as norse
        from norse.torch.functional.reset import reset_subtract

        dtype = ours[0].dtype
        tensor = functools.partial(torch.tensor, dtype=dtype, device=ours[0].device)
        if self.spec.kind == "yin-yang":
            c_hidden, c_out = yin_yang_couplings(dtype)
            d_m, d_s = decay(YY_TAU_M), decay(YY_TAU_S)
            self.scales = [c_hidden / (1 - d_m), c_out / (1 - d_m)]
            self.neuron = norse.LIFCell(norse.LIFParameters(
                tau_syn_inv=tensor((1 - d_s) / DT), tau_mem_inv=tensor((1 - d_m) / DT), v_leak=tensor(0.0),
                v_th=tensor(1.0), v_reset=tensor(0.0), method="super", alpha=tensor(1.0)), dt=DT)
            self.li = norse.LICell(norse.LIParameters(
                tau_syn_inv=tensor((1 - d_s) / DT), tau_mem_inv=tensor((1 - d_m) / DT), v_leak=tensor(0.0)), dt=DT)
        else:
            d_hidden = ONM_DECAY if self.spec.kind == "onm" else decay(TAU_HIDDEN)
            d_out = decay(TAU_OUT)
            self.scales = [1 / (1 - d_hidden), 1 / (1 - d_out)]
            self.neuron = norse.LIFBoxCell(norse.LIFBoxParameters(
                tau_mem_inv=tensor((1 - d_hidden) / DT), v_leak=tensor(0.0), v_th=tensor(1.0), v_reset=tensor(0.0),
                method="super", alpha=tensor(1.0), reset_method=reset_subtract), dt=DT)
            self.li = norse.LIBoxCell(norse.LIBoxParameters(tau_mem_inv=tensor((1 - d_out) / DT), v_leak=tensor(0.0)), dt=DT)
        self.layers = [linear(w, s) for w, s in zip(ours, self.scales)]

    @staticmethod
    def run(cell, current):
        state, out = None, []
        for step in current.unbind(0):
            z, state = cell(step, state)
            out.append(z)
        return torch.stack(out)

    def hidden(self, current):
        return self.run(self.neuron, current)

    def output(self, current):
        return self.run(self.li, current)


class SpikingJelly(Peer):
    def build(self, ours):
        from spikingjelly.activation_based import functional, neuron, surrogate

        self.functional = functional
        dtype = ours[0].dtype
        grad = surrogate.SuperSpike(alpha=SLOPE)
        if self.spec.kind == "yin-yang":
            c_hidden, c_out = yin_yang_couplings(dtype)
            d_m, d_s = decay(YY_TAU_M), decay(YY_TAU_S)
            tau_s, tau_m = 1 / (1 - d_s), 1 / (1 - d_m)
            # the synaptic current i = d_s i + x as a non-spiking node (input scaled by its tau), then the membrane
            self.scales = [tau_s * c_hidden, tau_s * c_out * tau_m]
            self.synapse = neuron.NonSpikingLIFNode(tau=tau_s)
            self.neuron = neuron.LIFNode(tau=tau_m, decay_input=False, v_threshold=1.0, v_reset=None,
                                         surrogate_function=grad, detach_reset=False, step_mode="m")
            self.li = [neuron.NonSpikingLIFNode(tau=tau_s), neuron.NonSpikingLIFNode(tau=tau_m)]
        else:
            d_hidden = ONM_DECAY if self.spec.kind == "onm" else decay(TAU_HIDDEN)
            tau_out = 1 / (1 - decay(TAU_OUT))
            self.scales = [1.0, tau_out]
            self.synapse = None
            self.neuron = neuron.LIFNode(tau=1 / (1 - d_hidden), decay_input=False, v_threshold=1.0, v_reset=None,
                                         surrogate_function=grad, detach_reset=False, step_mode="m")
            self.li = [neuron.NonSpikingLIFNode(tau=tau_out)]
        self.layers = [linear(w, s) for w, s in zip(ours, self.scales)]

    def hidden(self, current):
        self.functional.reset_net(self.neuron)
        if self.synapse is not None:
            current = torch.stack(self.synapse(current))
        return self.neuron(current)

    def output(self, current):
        for node in self.li:
            current = torch.stack(node(current))
        return current


PEERS = {"snntorch": SnnTorch, "norse": Norse, "spikingjelly": SpikingJelly}
MODULES = {"snntorch": "snntorch", "norse": "norse.torch", "spikingjelly": "spikingjelly.activation_based.neuron"}


def available(name: str) -> bool:
    if name == "lif":
        return True
    try:
        __import__(MODULES[name])
        return True
    except Exception:
        return False


def build(name: str, spec: Spec, dtype=torch.float32, check: bool = False, reset: str = "subtract", gain: float = 1.0):
    """An implementation's step (callable on its prepared inputs) with this project's weights."""
    if name == "lif":
        return Ours(spec, dtype, reset, gain)
    return PEERS[name](spec, [w.detach() for w in weights(build_lif(spec, dtype, gain=gain))], check)


# --- correctness --------------------------------------------------------------------------------

def check(name: str, spec: Spec) -> str:
    """Run a peer and this project in float64 on a reduced copy of ``spec``; compare spikes, outputs,
    loss and weight gradients. Returns a summary; raises SystemExit(2) on a mismatch."""
    small = reduced(spec)
    # Norse's current-based LIF resets to zero only: compare it with our cuba with the zero reset
    reset = "zero" if name == "norse" and spec.kind == "yin-yang" else "subtract"
    # Half the weights: a membrane still over threshold after its reset (v > 2) is where snnTorch's
    # reset_delay=False subtracts the threshold a second time; in the timed workloads some 4 % of spikes do.
    gain = 0.5
    ours, peer = Ours(small, torch.float64, reset, gain), build(name, small, torch.float64, check=True, gain=gain)
    inputs, targets = make_inputs(small, seed=1)
    loss, traces = ours(ours.prepare(inputs), targets)
    loss.backward()
    their_loss, their_traces = peer(peer.prepare(inputs), targets)
    their_loss.backward()
    exact = name == "snntorch"
    problems = []
    spikes, theirs = traces["spikes"], their_traces["spikes"]
    if spikes.sum() == 0:
        problems.append("no spikes in the check")
    mismatched = (spikes != theirs).sum().item()
    if mismatched:
        problems.append(f"{mismatched} of {spikes.sum().item():.0f} spikes differ")
    tolerance = 1e-12 if exact else 1e-9
    output_error = 0.0
    if "output" in traces:
        output_error = (traces["output"] - their_traces["output"]).abs().max().item()
        if output_error > tolerance:
            problems.append(f"output voltages differ by {output_error:.1e}")
    loss_error = abs(loss.item() - their_loss.item())
    if loss_error > tolerance * max(1.0, abs(loss.item())):
        problems.append(f"loss differs by {loss_error:.1e}")
    grads = [w.grad for w in weights(ours.model)]
    grad_error = max(((a - b).abs().max() / a.abs().max().clamp(min=1e-300)).item() for a, b in zip(grads, peer.grads()))
    if grad_error > (1e-6 if name == "snntorch" else 1e-9):  # snnTorch's spikes are float32 even in float64
        problems.append(f"weight gradients differ by {grad_error:.1e} (relative)")
    if problems:
        raise SystemExit(f"bench_network: {name} disagrees with lif on {spec.name} ({small}): " + "; ".join(problems))
    note = " (vs lif with reset=zero)" if reset == "zero" else ""
    return f"equal{note}: {spikes.sum().item():.0f} spikes, output {output_error:.0e}, grad {grad_error:.0e}"


# --- timing and memory ------------------------------------------------------------------------------

def stepper(name: str, spec: Spec, seed: int = 0):
    """A function doing one training step (forward, loss, backward) of ``name`` on ``spec``."""
    implementation = build(name, spec)
    inputs, targets = make_inputs(spec, seed)
    prepared = implementation.prepare(inputs)

    def step():
        for parameter in implementation.parameters:
            parameter.grad = None
        loss, _ = implementation(prepared, targets)
        loss.backward()
        if spec.device != "cpu":
            torch.cuda.synchronize(spec.device)  # a step ends when the GPU's queue does

    return step


def time_steps(name: str, spec: Spec, repeats: int, warmup: int, slow_repeats: int, budget: float = 1.0) -> list[float]:
    """Seconds per step: ``repeats`` steps after ``warmup``; ``slow_repeats`` where one step takes over ``budget`` s.

    Each implementation is timed in one block of consecutive steps, as it runs in training. Not in
    turns with the others: after another library's steps in the same process this project's steps
    stayed up to a third slower for several steps (onm-4096: 3.3-5.1 s against 2.9 s), which no
    untimed step before each turn undid; the cost is that the machine's drift (up to 2x within
    minutes here) is not shared evenly, so compare ratios across runs, not single cells."""
    step = stepper(name, spec)
    started = time.perf_counter()
    step()  # the first step (compiles, allocates) is never timed
    if time.perf_counter() - started > budget:
        repeats, warmup = slow_repeats, 0
    return benchmarking.seconds_per_step(step, repeats, warmup)


def child_prelude() -> str:
    """The start of the code a fresh process runs: this script imported as ``b``, with this process's thread counts."""
    return f"""
import sys
sys.argv = ['bench_network']
sys.path.insert(0, {str(ROOT / 'scripts')!r})
import bench_network as b
b.set_threads({torch.get_num_threads()})
"""


def time_steps_in_fresh_process(name: str, spec: Spec, repeats: int, warmup: int, slow_repeats: int) -> list[float]:
    """:func:`time_steps` in a new process, with this one's thread counts: each implementation of a
    workload starts from the same state, as in a training run of its own, whatever ran before it
    here (in one process, the order of the libraries moved onm-4096's times by up to a third)."""
    code = child_prelude() + f"""
import json
print(json.dumps(b.time_steps({name!r}, b.Spec(**{asdict(spec)!r}), {repeats}, {warmup}, {slow_repeats})))
"""
    try:
        return json.loads(benchmarking.last_line_in_fresh_process(code, timeout=3600))
    except RuntimeError as error:
        raise SystemExit(f"bench_network: timing {name} on {spec.name} in a fresh process failed: {error}") from None


def set_threads(threads: int) -> None:
    """torch's and numba's thread counts (this project's compiled kernels run on numba's)."""
    import numba

    torch.set_num_threads(threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))


def peak_memory(name: str, spec: Spec) -> float | None:
    """Extra MiB of one training step: resident memory in a fresh process on the CPU, allocated GPU memory on CUDA."""
    if spec.device == "cpu":
        return peak_memory_in_fresh_process(name, spec)
    step = stepper(name, spec)
    step()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated(spec.device)
    torch.cuda.reset_peak_memory_stats(spec.device)
    step()
    return (torch.cuda.max_memory_allocated(spec.device) - before) / 2**20


def peak_memory_in_fresh_process(name: str, spec: Spec) -> float | None:
    """Extra resident MiB of one training step, in a new process (None where not measurable)."""
    warm = replace(spec, batch=max(1, spec.batch // 8))
    prepare = child_prelude() + f"""
b.stepper({name!r}, b.Spec(**{asdict(warm)!r}))()  # compile and warm up on a smaller batch
step = b.stepper({name!r}, b.Spec(**{asdict(spec)!r}))
"""
    return benchmarking.peak_memory_in_fresh_process(prepare, "step()", timeout=1800)


def gemm_throughput(spec: Spec, repeats: int = 5) -> float:
    """torch.matmul flop/s on the onm projection [B L, N] @ [N, N] (float32)."""
    a = torch.randn(spec.batch * spec.steps, spec.inputs, device=spec.device)
    b = torch.randn(spec.inputs, spec.hidden, device=spec.device)

    def product():
        torch.matmul(a, b)
        if spec.device != "cpu":
            torch.cuda.synchronize(spec.device)

    product()
    seconds = benchmarking.seconds_per_step(product, repeats, 0)
    return 2 * spec.batch * spec.steps * spec.inputs * spec.hidden / statistics.median(seconds)


# --- tables -------------------------------------------------------------------------------------

def seconds_cell(seconds: float) -> str:
    return f"{seconds:.4f}" if seconds < 1 else f"{seconds:.3f}"


def ratio_cell(seconds: float, ours: float | None) -> str:
    return "-" if ours is None else f"{seconds / ours:.2f}x"


def render(saved: dict, markdown: bool) -> None:
    machine, results = saved["machine"], saved["results"]
    gemm = {r["workload"]: r["flops"] for r in results if r.get("kind") == "gemm"}
    if gemm:
        print("\nGEMM throughput (torch.matmul, float32, [B L, N] @ [N, N]): "
              + ", ".join(f"{name}: {flops / 1e9:.1f} GFLOP/s" for name, flops in gemm.items()))
    timings = [r for r in results if r.get("kind") == "timing"]
    for workload in dict.fromkeys(r["workload"] for r in timings):
        here = [r for r in timings if r["workload"] == workload]
        ours = next((statistics.median(r["seconds"]) for r in here if r["implementation"] == "lif"), None)
        header = ["implementation", "median s/step", "min-max", "peer / lif", "peak MiB", "check"]
        if workload in gemm:
            header.append("GEMM share")
        rows = []
        for r in here:
            median = statistics.median(r["seconds"])
            peak = r.get("peak_mib")
            cells = [r["implementation"], seconds_cell(median), f"{seconds_cell(min(r['seconds']))}-{seconds_cell(max(r['seconds']))}",
                     ratio_cell(median, ours), "-" if peak is None else f"{peak:.0f}", r.get("check", "-")]
            if workload in gemm:
                spec = Spec(**r["spec"])
                cells.append(f"{4 * spec.batch * spec.steps * spec.inputs * spec.hidden / median / gemm[workload]:.0%}")
            rows.append(cells)
        benchmarking.print_table(f"{workload}: training step, {describe(Spec(**here[0]['spec']))} ({machine})", header, rows, markdown)
    scaling = [r for r in results if r.get("kind") == "scaling"]
    for axis in dict.fromkeys(r["axis"] for r in scaling):
        here = [r for r in scaling if r["axis"] == axis]
        names = list(dict.fromkeys(r["implementation"] for r in here))
        rows = []
        for value in dict.fromkeys(r["value"] for r in here):
            at = {r["implementation"]: statistics.median(r["seconds"]) for r in here if r["value"] == value}
            label = f"{value:.1%}" if axis == "rate" else str(value)
            rows.append([label] + [f"{seconds_cell(at[n])} ({ratio_cell(at[n], at.get('lif'))})" if n != "lif" else seconds_cell(at[n])
                                   for n in names])
        header = [axis] + [f"{n} s/step" + ("" if n == "lif" else " (peer / lif)") for n in names]
        benchmarking.print_table(f"scaling in {axis}: two-layer, the others fixed ({machine})", header, rows, markdown)


def describe(spec: Spec) -> str:
    if spec.kind == "onm":
        return f"Linear({spec.inputs}, {spec.hidden}) -> LIF, batch {spec.batch}, {spec.steps} steps, loss = sum of spikes"
    rate = f", input rate {spec.rate:.1%}" if spec.kind == "two-layer" else ", one spike per input"
    return (f"{spec.inputs} -> {spec.hidden} {'LIF' if spec.kind == 'two-layer' else 'cuba'} -> {spec.outputs} li, "
            f"batch {spec.batch}, {spec.steps} steps{rate}, max-over-time cross-entropy")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=PEER_NOTES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help=f"comma-separated implementations (default: every importable of {','.join(IMPLEMENTATIONS)})")
    default_workloads = [name for name in WORKLOADS if name not in GPU_ONLY]
    parser.add_argument("--workloads", help=f"comma-separated workloads (default: {','.join(default_workloads)}; "
                        f"also {','.join(GPU_ONLY)})")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda:N): where every implementation runs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per measurement (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps after the first (default: %(default)s)")
    parser.add_argument("--slow-repeats", type=int, default=3, help="timed steps where a step takes over 1 s (default: %(default)s)")
    parser.add_argument("--threads", type=int, help="torch and numba threads (default: torch's default, the machine's cores); "
                        "1 on a machine busy with other work, where waiting for a descheduled thread stalls every parallel op")
    parser.add_argument("--same-process", action="store_true", help="time the workloads' implementations in this "
                        "process, one after another (default: each in a fresh process, as the scaling points never are)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling tables")
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory (it starts fresh processes)")
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 repeats, a small scaling table (the test's run)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for the README)")
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--from-json", help="print the tables of a run saved with --json, measuring nothing")
    arguments = parser.parse_args(argv)
    if arguments.from_json:
        render(json.loads(Path(arguments.from_json).read_text()), arguments.markdown)
        return 0
    workloads, scaling_points = (QUICK, QUICK_SCALING) if arguments.quick else (WORKLOADS, SCALING)
    if arguments.quick:
        arguments.repeats, arguments.warmup, arguments.slow_repeats = 2, 0, 1
    selected = arguments.workloads.split(",") if arguments.workloads else [name for name in workloads if name not in GPU_ONLY]
    unknown = [name for name in selected if name not in workloads]
    if unknown:
        parser.error(f"unknown workloads {unknown}; choose from {', '.join(workloads)}")
    requested = arguments.only.split(",") if arguments.only else list(IMPLEMENTATIONS)
    unknown = [name for name in requested if name not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"unknown implementations {unknown}; choose from {', '.join(IMPLEMENTATIONS)}")
    names = [name for name in IMPLEMENTATIONS if name in requested and available(name)]
    missing = [name for name in requested if name not in names]
    if arguments.device != "cpu" and not (arguments.device.split(":")[0] == "cuda" and torch.cuda.is_available()):
        parser.error(f"--device {arguments.device}: expected cpu, or cuda on a machine where torch sees a CUDA GPU")
    workloads = {name: replace(spec, device=arguments.device) for name, spec in workloads.items()}
    if arguments.threads:
        set_threads(arguments.threads)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numba

    machine = (f"{cpu}, {torch.get_num_threads()} torch threads, {numba.get_num_threads()} numba threads, "
               f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}, torch {torch.__version__}")
    if arguments.device != "cpu":
        machine = f"{torch.cuda.get_device_name(arguments.device)} ({arguments.device}), host {machine}"
    print(f"machine: {machine}; not importable: {', '.join(missing) or 'none'}")

    checks = {}
    for workload in selected:
        for name in names:
            if name != "lif":
                checks[(workload, name)] = check(name, workloads[workload])
                print(f"check {workload} {name}: {checks[(workload, name)]}", flush=True)

    results = []
    for workload in selected:
        spec = workloads[workload]
        if spec.kind == "onm":
            results.append({"kind": "gemm", "workload": workload, "flops": gemm_throughput(spec)})
        for name in names:
            timing = time_steps if arguments.same_process else time_steps_in_fresh_process
            seconds = timing(name, spec, arguments.repeats, arguments.warmup, arguments.slow_repeats)
            row = {"kind": "timing", "workload": workload, "implementation": name, "spec": asdict(spec), "seconds": seconds,
                   "check": checks.get((workload, name), "reference")}
            if not arguments.no_memory:
                row["peak_mib"] = peak_memory(name, spec)
            results.append(row)
            print(f"{workload} {name}: {statistics.median(seconds):.4f} s/step", flush=True)
    if not arguments.no_scaling:
        base = workloads["two-layer"]
        for axis, values in scaling_points.items():
            for value in values:
                spec = replace(base, **{SCALING_FIELD[axis]: value})
                for name in names:
                    if arguments.quick:
                        seconds = time_steps(name, spec, 1, 0, 1)
                    else:
                        seconds = time_steps(name, spec, arguments.repeats, arguments.warmup, 2)
                    results.append({"kind": "scaling", "axis": axis, "value": value, "implementation": name,
                                    "spec": asdict(spec), "seconds": seconds})
                print(f"scaling {axis} = {value} done", flush=True)
    saved = {"machine": machine, "threads": torch.get_num_threads(), "results": results}
    render(saved, arguments.markdown)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps(saved, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
