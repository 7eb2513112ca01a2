"""The network benchmark's peers compute this project's networks, and its CLI writes its tables (speed itself is not asserted)."""

import json
import subprocess
import sys
import warnings

import pytest

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_network  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*:DeprecationWarning")  # SpikingJelly's import

# snnTorch is a dev dependency: its check always runs. Norse and SpikingJelly come with `make bench-peers`.
with warnings.catch_warnings():  # SpikingJelly's import warns of torch.jit.script
    warnings.simplefilter("ignore", DeprecationWarning)
    PEERS = ["snntorch"] + [name for name in ("norse", "spikingjelly") if bench_network.available(name)]


@pytest.mark.parametrize("workload", list(bench_network.QUICK))
@pytest.mark.parametrize("name", PEERS)
def test_peers_give_the_same_spikes_outputs_and_gradients_in_float64(name, workload):
    summary = bench_network.check(name, bench_network.QUICK[workload])  # SystemExit on a mismatch
    assert summary.startswith("equal")


def test_snntorch_check_catches_a_different_network():
    """The check is not vacuous: snnTorch's default reset (one step late) is a different network."""
    spec = bench_network.QUICK["two-layer"]
    original = bench_network.SnnTorch.build

    def late_reset(self, ours):
        original(self, ours)
        self.neuron.reset_delay = True

    bench_network.SnnTorch.build = late_reset
    try:
        with pytest.raises(SystemExit, match="snntorch disagrees"):
            bench_network.check("snntorch", spec)
    finally:
        bench_network.SnnTorch.build = original


def test_the_benchmark_writes_its_tables_and_json(tmp_path):
    path = tmp_path / "run.json"
    result = subprocess.run(
        [sys.executable, "scripts/bench_network.py", "--quick", "--only", "lif,snntorch", "--no-memory", "--markdown",
         "--same-process", "--json", str(path)],  # (the fresh processes: the test below)
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    saved = json.loads(path.read_text())
    timings = [r for r in saved["results"] if r["kind"] == "timing"]
    assert {(r["workload"], r["implementation"]) for r in timings} == {
        (workload, name) for workload in bench_network.QUICK for name in ("lif", "snntorch")
    }
    assert all(r["check"].startswith("equal") for r in timings if r["implementation"] == "snntorch")
    scaling = {(r["axis"], r["value"]) for r in saved["results"] if r["kind"] == "scaling"}
    assert scaling == {(axis, value) for axis, values in bench_network.QUICK_SCALING.items() for value in values}
    assert [r["workload"] for r in saved["results"] if r["kind"] == "gemm"] == ["onm-256"]
    assert "torch threads" in saved["machine"] and saved["threads"] >= 1
    for line in ("| lif |", "| snntorch |", "GEMM throughput", "scaling in rate"):
        assert line in result.stdout
    again = subprocess.run([sys.executable, "scripts/bench_network.py", "--from-json", str(path), "--markdown"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "| snntorch |" in again.stdout


def test_steps_are_timed_in_a_fresh_process_and_its_failure_is_one_line():
    seconds = bench_network.time_steps_in_fresh_process("lif", bench_network.QUICK["two-layer"], 3, 0, 1)
    assert len(seconds) == 3 and all(second > 0 for second in seconds)
    with pytest.raises(SystemExit, match="timing no-such-library on two-layer in a fresh process failed: KeyError"):
        bench_network.time_steps_in_fresh_process("no-such-library", bench_network.QUICK["two-layer"], 1, 0, 1)


def test_peak_memory_is_measured_in_a_fresh_process():
    peak = bench_network.peak_memory_in_fresh_process("lif", bench_network.QUICK["two-layer"])
    assert peak is not None and peak >= 0


def test_an_unknown_device_is_one_line_naming_the_option():
    result = subprocess.run([sys.executable, "scripts/bench_network.py", "--device", "tpu"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("--device tpu: expected cpu, or cuda on a machine where torch sees a CUDA GPU")
