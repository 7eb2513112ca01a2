"""The benchmark scripts run and their implementations agree (speed itself is not asserted)."""

import subprocess
import sys

import pytest
import torch

from support import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench  # noqa: E402


@pytest.mark.parametrize("name", ["lif-torch", "dense", "loop"])
def test_every_reference_computes_the_same_maximum_voltages(name):
    work = bench.Workload(batch=8, num_inputs=60, num_steps=120, num_outputs=2, seed=3)
    expected = bench.lif_compiled(work, work.weights)
    torch.testing.assert_close(bench.IMPLEMENTATIONS[name](work, work.weights), expected, rtol=0, atol=1e-5)


def test_the_benchmark_prints_its_tables():
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", "--quick", "--batches", "16", "--outputs", "1,3", "--no-memory", "--markdown"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| lif") or line.startswith("| loop")]
    assert len(rows) == 2 * 4  # lif, lif-smooth-max, lif-torch, loop for 1 and 3 outputs
    assert "max-voltage check against lif" in result.stdout


@pytest.mark.slow
def test_the_app_breakdown_accounts_for_the_run():
    result = subprocess.run(
        [sys.executable, "scripts/bench_app.py", "--runs", "1", "--", "data.num_samples=40", "data.num_afferents=20",
         "trainer.max_epochs=2", "logger=none"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for part in ("imports", "data", "training", "plots", "database writes", "W&B finish"):
        assert part in result.stdout
