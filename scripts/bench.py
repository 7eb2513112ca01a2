"""Benchmark the tempotron layer against references and peer libraries.

    python scripts/bench.py                 # full tables: batch 64 and 1024, 1 and 10 outputs, scaling
    python scripts/bench.py --quick         # fewer repeats, no peers, no scaling
    python scripts/bench.py --only lif,loop --batches 1024 --outputs 1 --no-scaling

Workload (canonical): N_in = 500 afferents each firing once at a whole millisecond in
[0, T), T = 500 ms, dt = 1 ms (L = 500 steps), the tempotron kernel (tau_m = 15 ms,
tau_s = 3.75 ms, peak 1), random weights, random +-1 labels. A training step is: maximum
voltage, hinge loss relu(-y (V_max - 1)), backward, SGD with momentum 0.99. Inference is
the maximum voltage without gradients. Spikes lie on the grid so that every
implementation sees exactly the same input.

Implementations: ``lif`` (this project, compiled CPU kernel), ``lif-smooth-max`` (the same
with the smooth-max readout, beta = 10/mV, in place of V_max: its own readout, checked
against the formula through the dense trace), ``lif-torch`` (this project's
tensor path, the one used on GPUs), ``dense`` (a [B, L, N] PSP tensor then a matrix
product, as SpikingJelly's old Tempotron), ``loop`` (a time-stepped second-order LIF
recursion with autograd, as snnTorch's Synaptic and Norse's LI cells), and the peers
``snntorch``, ``norse``, ``spikingjelly`` when importable (``pip install -e ".[bench]"``;
install Norse and SpikingJelly with --no-deps, they pull torchvision). Before any timing,
every implementation's maximum voltages are checked against ``lif``'s.

Timings are medians over repeats with min-max; ratios are to ``lif`` in the same run.
Peak memory is the extra resident memory of one 1024-pattern training step, measured in a
fresh process (Linux: the high-water mark after /proc/self/clear_refs).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import lif  # noqa: E402,F401  (before torch: sets OMP_WAIT_POLICY as the app runs it, see lif/__init__.py)
import torch  # noqa: E402

import benchmarking  # noqa: E402

from lif import exact  # noqa: E402
from lif.exact.smooth_max import smooth_max_voltage  # noqa: E402
from lif.kernels import DoubleExponentialKernel  # noqa: E402

TAU_M, TAU_S, DT = 15.0, 3.75, 1.0
KERNEL = DoubleExponentialKernel(TAU_M, TAU_S)
DECAY_M, DECAY_S = KERNEL.decays(DT)


class Workload:
    """Inputs in every format the implementations take, made once per (batch, N, L)."""

    def __init__(self, batch: int, num_inputs: int, num_steps: int, num_outputs: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.batch, self.num_inputs, self.num_steps, self.num_outputs = batch, num_inputs, num_steps, num_outputs
        steps = torch.randint(0, num_steps, (batch, num_inputs), generator=generator)
        self.times = steps.float() * DT  # [B, N] ms, on the grid
        self.raster = torch.zeros(num_steps, batch, num_inputs)  # [L, B, N], time first for the loops
        self.raster.scatter_(0, steps.unsqueeze(0), 1.0)
        self.weights = torch.randn(num_inputs, num_outputs, generator=generator) * 0.05
        self.targets = (torch.randint(0, 2, (batch, num_outputs), generator=generator) * 2 - 1).float()


# --- implementations: each maps a workload and trainable weights [N, O] to V_max [B, O] -----

def lif_compiled(work, weights):
    return exact.max_voltage(work.times, weights, KERNEL, DT, work.num_steps, backend="compiled")[0]


SMOOTH_MAX_BETA = 10.0  # 1/mV: h is within log(L)/beta = 0.6 mV of V_max


def lif_smooth_max(work, weights):
    """The smooth-max readout h = (1/beta) log((1/L) sum_k exp(beta V_k)) in place of V_max (compiled)."""
    return smooth_max_voltage(work.times, weights, KERNEL, DT, work.num_steps, SMOOTH_MAX_BETA, backend="compiled")


def lif_torch(work, weights):
    return exact.max_voltage(work.times, weights, KERNEL, DT, work.num_steps, backend="torch")[0]


def dense(work, weights):
    """psp[b, k, i] = K(t_k - t_i) gathered from a table of K on the grid, then one matrix product."""
    table = getattr(work, "_table", None)
    if table is None:  # K(n dt) for n = -1 (zero: before the spike), 0, ..., L-1
        table = torch.cat([torch.zeros(1), KERNEL(torch.arange(work.num_steps, dtype=torch.float64) * DT).float()])
        work._table, work._steps = table, (work.times / DT).round().to(torch.int32)
    lag = torch.arange(work.num_steps, dtype=torch.int32)[None, :, None] - work._steps[:, None, :]  # [B, L, N]
    psp = table[lag.clamp_(min=-1).add_(1)].to(weights.dtype)
    return (psp @ weights).max(dim=1).values


def loop(work, weights):
    """V = V0 (A - B), A_k = a A_{k-1} + I_k, B_k = b B_{k-1} + I_k, one time step at a time."""
    trace_m = trace_s = torch.zeros(work.batch, work.num_outputs)
    v_max = torch.full((work.batch, work.num_outputs), -math.inf)
    for k in range(work.num_steps):
        current = work.raster[k] @ weights
        trace_m = DECAY_M * trace_m + current
        trace_s = DECAY_S * trace_s + current
        v_max = torch.maximum(v_max, KERNEL.v_0 * (trace_m - trace_s))
    return v_max


def snntorch_synaptic(work, weights):
    """snnTorch's Synaptic neuron (syn = alpha syn + x; mem = beta mem + syn) without reset.

    With alpha = d_s, beta = d_m and inputs scaled by V0 (d_m - d_s), mem at step k is our V at k+1.
    """
    import snntorch

    neuron = snntorch.Synaptic(alpha=DECAY_S, beta=DECAY_M, threshold=1e30, reset_mechanism="none")
    scale = KERNEL.v_0 * (DECAY_M - DECAY_S)
    syn, mem = neuron.init_synaptic()
    v_max = torch.zeros(work.batch, work.num_outputs)  # V at step 0 is 0
    for k in range(work.num_steps - 1):
        _, syn, mem = neuron(scale * (work.raster[k] @ weights), syn, mem)
        v_max = torch.maximum(v_max, mem)
    return v_max


def norse_li(work, weights):
    """Norse's leaky integrator (Euler form) with its step factors set to the exact decays.

    With tau_mem_inv = (1 - d_m)/dt and tau_syn_inv = (1 - d_s)/dt (the input jumps in before the
    voltage update), Norse's v after step k is c V_{k+1} with c = (1 - d_m) / ((d_m - d_s) V0);
    inputs are scaled by 1/c.
    """
    import norse.torch as norse

    parameters = norse.LIParameters(
        tau_syn_inv=torch.tensor((1 - DECAY_S) / DT), tau_mem_inv=torch.tensor((1 - DECAY_M) / DT), v_leak=torch.tensor(0.0)
    )
    cell = norse.LICell(parameters, dt=DT)
    scale = (DECAY_M - DECAY_S) * KERNEL.v_0 / (1 - DECAY_M)
    state = None
    v_max = torch.zeros(work.batch, work.num_outputs)  # V at step 0 is 0
    for k in range(work.num_steps - 1):
        v, state = cell(scale * (work.raster[k] @ weights), state)
        v_max = torch.maximum(v_max, v)
    return v_max


def spikingjelly_tempotron(work, weights):
    """SpikingJelly 2.0's continuous-time Tempotron (threshold out of reach: no shunting)."""
    from spikingjelly.timing_based.functional import tempotron

    events = (
        work.times.reshape(-1).to(weights.dtype),
        torch.arange(work.num_inputs).repeat(work.batch),
        torch.arange(work.batch + 1) * work.num_inputs,
    )
    v_max, _, _ = tempotron(*events, weights.t(), work.num_steps * DT, tau=TAU_M, tau_s=TAU_S, v_threshold=1e9)
    return v_max


IMPLEMENTATIONS = {
    "lif": lif_compiled,
    "lif-smooth-max": lif_smooth_max,
    "lif-torch": lif_torch,
    "dense": dense,
    "loop": loop,
    "snntorch": snntorch_synaptic,
    "norse": norse_li,
    "spikingjelly": spikingjelly_tempotron,
}
PEERS = {"snntorch": "snntorch", "norse": "norse", "spikingjelly": "spikingjelly"}


def available(name: str) -> bool:
    if name not in PEERS:
        return True
    try:
        __import__(PEERS[name])
        if name == "spikingjelly":
            from spikingjelly.timing_based.neuron import Tempotron  # noqa: F401
        return True
    except Exception:
        return False


def check(name: str, tolerance: float = 2e-4) -> str:
    """Compare V_max with lif's on a small workload; SpikingJelly (continuous time) with a fine grid."""
    work = Workload(batch=16, num_inputs=100, num_steps=200, num_outputs=3, seed=1)
    weights = work.weights.clone()
    if name == "spikingjelly":
        fine = 100  # lif on a grid 100 times finer approaches the continuous maximum
        reference = exact.max_voltage(work.times.double(), weights.double(), KERNEL, DT / fine, work.num_steps * fine)[0]
        got = IMPLEMENTATIONS[name](work, weights.double()).detach()
        tolerance = 1e-3
    elif name == "lif-smooth-max":  # its own readout: against the same formula through the dense trace
        reference = smooth_max_voltage(work.times, weights, KERNEL, DT, work.num_steps, SMOOTH_MAX_BETA, backend="torch")
        got = IMPLEMENTATIONS[name](work, weights).detach()
    else:
        reference = lif_compiled(work, weights)
        got = IMPLEMENTATIONS[name](work, weights).detach()
    error = (got.double() - reference.double()).abs().max().item() / reference.abs().max().item()
    if error > tolerance:
        raise SystemExit(f"bench: {name} disagrees with lif: relative max-voltage error {error:.2e} > {tolerance:g}")
    return f"{error:.1e}"


def time_steps(name: str, work: Workload, training: bool, repeats: int, warmup: int) -> list[float]:
    """Seconds per step over ``repeats`` steps after ``warmup`` steps."""
    implementation = IMPLEMENTATIONS[name]
    weights = work.weights.clone().requires_grad_(training)
    optimizer = torch.optim.SGD([weights], lr=1e-4, momentum=0.99)

    def step():
        if training:
            v_max = implementation(work, weights)
            loss = torch.relu(-work.targets * (v_max - 1.0)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        else:
            with torch.no_grad():
                implementation(work, weights)

    return benchmarking.seconds_per_step(step, repeats, warmup)


def peak_memory_in_fresh_process(name: str, num_outputs: int, batch: int = 1024) -> float | None:
    """Extra resident MiB of one training step, in a new process (None where not measurable)."""
    prepare = f"""
import sys
sys.argv = ['bench']
sys.path.insert(0, {str(ROOT / 'scripts')!r})
import bench
small = bench.Workload(16, 500, 500, {num_outputs})
bench.time_steps({name!r}, small, True, 1, 1)  # compile and warm up on a small batch
work = bench.Workload({batch}, 500, 500, {num_outputs})
"""
    return benchmarking.peak_memory_in_fresh_process(prepare, f"bench.time_steps({name!r}, work, True, 1, 0)")


def rate_cells(seconds: list[float], batch: int, lif_median: float | None) -> list[str]:
    """patterns/s (median), its min-max, and how many times faster lif was in the same run."""
    median = statistics.median(seconds)
    ratio = None if lif_median is None else median / lif_median
    speed_up = "-" if ratio is None else f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.3g}x"
    return [f"{batch / median:,.0f}", f"{batch / max(seconds):,.0f}-{batch / min(seconds):,.0f}", speed_up]


SCALING = [(250, 500), (500, 500), (1000, 500), (2000, 500), (500, 250), (500, 1000), (500, 2000)]
RATE_HEADER = [
    "implementation", "batch", "train patterns/s", "train min-max", "train: lif faster by",
    "infer patterns/s", "infer min-max", "infer: lif faster by", "peak MiB (1024)",
]


def render_rates(results: list[dict], machine: str, markdown: bool) -> None:
    """One table per number of outputs from the timing and memory results."""
    timings = [result for result in results if "training" in result]
    peaks = {(r["implementation"], r["outputs"]): r["peak_mib"] for r in results if "peak_mib" in r}
    for num_outputs in sorted({result["outputs"] for result in timings}):
        rows = []
        for batch in sorted({result["batch"] for result in timings if result["outputs"] == num_outputs}):
            here = [result for result in timings if result["outputs"] == num_outputs and result["batch"] == batch]
            lif = {r["training"]: statistics.median(r["seconds"]) for r in here if r["implementation"] == "lif"}
            for name in dict.fromkeys(result["implementation"] for result in here):
                cells = [name, str(batch)]
                for training in (True, False):
                    (result,) = [r for r in here if r["implementation"] == name and r["training"] == training]
                    cells += rate_cells(result["seconds"], batch, lif.get(training))
                peak = peaks.get((name, num_outputs)) if batch == 1024 else None
                rows.append(cells + ["-" if peak is None else f"{peak:.0f}"])
        benchmarking.print_table(f"{num_outputs} output(s): N_in = 500, L = 500 ({machine})", RATE_HEADER, rows, markdown)


def render_scaling(results: list[dict], markdown: bool) -> None:
    scaling = [result for result in results if "scaling" in result]
    if not scaling:
        return
    names = list(dict.fromkeys(result["implementation"] for result in scaling))
    rows = []
    for num_steps, num_inputs in SCALING:
        cells = [f"L = {num_steps}, N_in = {num_inputs}"]
        for name in names:
            (result,) = [r for r in scaling if r["implementation"] == name and r["scaling"] == [num_steps, num_inputs]]
            median = statistics.median(result["seconds"]) if isinstance(result["seconds"], list) else result["seconds"]
            cells += [f"{median * 1e3:.2f}", f"{1024 / median:,.0f}"]
        rows.append(cells)
    header = ["workload (batch 1024, binary, training)"] + [column for name in names for column in (f"{name} ms/step", f"{name} patterns/s")]
    benchmarking.print_table("scaling of one training step", header, rows, markdown)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog="See the module docstring for the workload.")
    parser.add_argument("--only", help="comma-separated implementations (default: all importable)")
    parser.add_argument("--batches", default="64,1024", help="batch sizes (default: %(default)s)")
    parser.add_argument("--outputs", default="1,10", help="numbers of outputs (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per measurement (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default: %(default)s)")
    parser.add_argument("--slow-repeats", type=int, default=3, help="timed steps for implementations over 1 s a step")
    parser.add_argument("--no-scaling", action="store_true", help="skip the scaling table")
    parser.add_argument("--no-memory", action="store_true", help="skip peak memory (it starts fresh processes)")
    parser.add_argument("--quick", action="store_true", help="lif, lif-torch, dense and loop only, few repeats, no scaling")
    parser.add_argument("--markdown", action="store_true", help="print Markdown tables (for the README)")
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument("--from-json", help="print the tables of a run saved with --json, measuring nothing")
    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.repeats, arguments.no_scaling = 5, True
        arguments.only = arguments.only or "lif,lif-smooth-max,lif-torch,dense,loop"
    if arguments.from_json:
        saved = json.loads(Path(arguments.from_json).read_text())
        render_rates(saved["results"], saved["machine"], arguments.markdown)
        render_scaling(saved["results"], arguments.markdown)
        return 0
    requested = arguments.only.split(",") if arguments.only else list(IMPLEMENTATIONS)
    names = sorted((name for name in requested if available(name)), key=lambda name: name != "lif")  # lif first
    missing = [name for name in requested if name not in names]
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}"
    print(f"machine: {machine}; not importable: {', '.join(missing) or 'none'}")
    print("max-voltage check against lif (relative error): " + ", ".join(f"{name} {check(name)}" for name in names if name != "lif"))

    results = []
    for num_outputs in map(int, arguments.outputs.split(",")):
        for batch in map(int, arguments.batches.split(",")):
            work = Workload(batch, 500, 500, num_outputs)
            for name in names:
                for training in (True, False):
                    probe = time_steps(name, work, training, 1, 1)
                    slow = probe[0] >= 1.0
                    seconds = time_steps(
                        name, work, training, arguments.slow_repeats if slow else arguments.repeats, 0 if slow else arguments.warmup
                    )
                    results.append({"implementation": name, "outputs": num_outputs, "batch": batch, "training": training, "seconds": seconds})
                if batch == 1024 and not arguments.no_memory:
                    peak = peak_memory_in_fresh_process(name, num_outputs)
                    results.append({"implementation": name, "outputs": num_outputs, "batch": batch, "peak_mib": peak})
    render_rates(results, machine, arguments.markdown)

    if not arguments.no_scaling:
        for num_steps, num_inputs in SCALING:
            work = Workload(1024, num_inputs, num_steps, 1)
            for name in [name for name in ("lif", "lif-torch") if name in names]:
                seconds = time_steps(name, work, True, arguments.repeats, arguments.warmup)
                results.append({"implementation": name, "scaling": [num_steps, num_inputs], "seconds": seconds})
        render_scaling(results, arguments.markdown)
    if arguments.json:
        Path(arguments.json).write_text(json.dumps({"machine": machine, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
