"""Test accuracy of the smooth-max tempotron against beta and against tau_m, from tracked trials.

    python scripts/readout_sweep.py run [--betas 0.1,0.3,...] [--tau-ms 5,10,...] [--seeds 1,2,3] [-- overrides]
    python scripts/readout_sweep.py report [--experiment odd_even] [--url URL] [--output readout_sweep.png]

``run`` launches two multiruns of ``experiment=odd_even`` (one tempotron, smooth-max readout,
digits odd vs even, 20 Hz rate coding): one over ``model.smooth_max_beta`` (tracked as
experiment ``<experiment>_beta``), one over ``kernel.tau_m`` (``<experiment>_tau``, tau_s fixed
at the kernel's 3.75 ms, so every tau_m must exceed it), every value for every seed; further Hydra overrides are passed on to both
(``data=mnist data.root=...`` for MNIST, ``hydra/launcher=joblib hydra.launcher.n_jobs=2``).
``report`` rebuilds the two curves from the tracking database: mean and standard deviation over
seeds of each completed trial's test/acc, as a figure and a .csv table next to it.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lif.runs import Runs  # noqa: E402
from lif.tracking.database import default_url  # noqa: E402

# each curve: (experiment suffix, the swept value in a trial's config, axis label)
CURVES = {
    "beta": (lambda config: config["model"]["smooth_max_beta"], "smooth-max beta (1/mV)"),
    "tau": (lambda config: config["kernel"]["tau_m"], "membrane time constant tau_m (ms)"),
}


def test_accuracy(runs: Runs, trial) -> float | None:
    """The trial's test/acc (logged once, after training), None when it has none."""
    values = [row["test/acc"] for row in runs.epoch_metrics(trial.id) if "test/acc" in row]
    return values[-1] if values else None


def curve(runs: Runs, experiment: str, value_of) -> list[dict]:
    """One row per swept value: trials, mean and sd of their test accuracy."""
    try:
        _, trials = runs.experiment(experiment)
    except LookupError:
        return []
    accuracies: dict[float, list[float]] = defaultdict(list)
    for trial in trials:
        accuracy = test_accuracy(runs, trial) if trial.status == "completed" else None
        if accuracy is not None:
            accuracies[float(value_of(trial.config))].append(accuracy)
    return [
        {
            "value": value,
            "runs": len(values),
            "mean_test_acc": statistics.fmean(values),
            "sd_test_acc": statistics.stdev(values) if len(values) > 1 else 0.0,
        }
        for value, values in sorted(accuracies.items())
    ]


def draw(curves: dict[str, list[dict]], output: Path, title: str) -> None:
    from lif.plots import DPI, FIGURE_SIZE, plt

    figure, axes = plt.subplots(1, len(curves), figsize=FIGURE_SIZE, dpi=DPI, squeeze=False)
    for axis, (name, rows) in zip(axes[0], curves.items()):
        values = [row["value"] for row in rows]
        axis.errorbar(values, [100 * row["mean_test_acc"] for row in rows], yerr=[100 * row["sd_test_acc"] for row in rows],
                      fmt="o-", capsize=3)
        axis.set(xlabel=CURVES[name][1], ylabel="test accuracy (%)", xscale="log")
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.savefig(output)
    plt.close(figure)


def report(url: str, experiment: str, output: Path) -> dict[str, list[dict]]:
    runs = Runs(url)
    curves = {name: curve(runs, f"{experiment}_{name}", value_of) for name, (value_of, _) in CURVES.items()}
    curves = {name: rows for name, rows in curves.items() if rows}
    if not curves:
        raise SystemExit(f"readout_sweep: experiments {experiment}_beta and {experiment}_tau have no completed trial with test/acc in {url}")
    table = output.with_suffix(".csv")
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["curve", "value", "runs", "mean_test_acc", "sd_test_acc"])
        writer.writeheader()
        for name, rows in curves.items():
            writer.writerows({"curve": name, **row} for row in rows)
    draw(curves, output, f"smooth-max tempotron ({experiment})")
    for name, rows in curves.items():
        print(f"{name:>5} {'runs':>5} {'test acc (%)':>14}")
        for row in rows:
            print(f"{row['value']:>5g} {row['runs']:>5} {100 * row['mean_test_acc']:>8.2f} ± {100 * row['sd_test_acc']:.2f}")
    print(f"wrote {output} and {table}")
    return curves


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--betas", default="0.1,0.3,1,3,10,30,100", help="beta values (default: %(default)s)")
    parser.add_argument("--tau-ms", default="5,10,20,40,80", help="tau_m values in ms (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="repeats per value (default: %(default)s)")
    parser.add_argument("--experiment", default="odd_even", help="name prefix of the two tracked experiments (default: %(default)s)")
    parser.add_argument("--url", default=default_url(), help="tracking database (default: %(default)s)")
    parser.add_argument("--output", default="readout_sweep.png", help="figure; the table goes next to it as .csv")
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else []  # Hydra overrides for `run`
    arguments = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if arguments.command == "run":
        common = [sys.executable, str(ROOT / "train.py"), "-m", "experiment=odd_even", f"tracking.url={arguments.url}",
                  f"seed={arguments.seeds}", "trainer.enable_progress_bar=false"]
        sweeps = {
            "beta": [f"model.smooth_max_beta={arguments.betas}"],
            "tau": [f"kernel.tau_m={arguments.tau_ms}"],
        }
        for name, swept in sweeps.items():
            command = [*common, f"experiment_name={arguments.experiment}_{name}", *swept, *overrides]
            print(" ".join(command), flush=True)
            completed = subprocess.run(command)
            if completed.returncode != 0:
                print(f"readout_sweep: the {name} multirun exited with {completed.returncode}; reporting what was recorded", file=sys.stderr)
    report(arguments.url, arguments.experiment, Path(arguments.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
