"""The tempotron's capacity curve: fraction of perfectly learned runs and learning time
against the load alpha = P/N, from ordinary tracked trials.

    python scripts/capacity.py run [--afferents 500] [--loads 0.5,1,...,3.5] [--seeds 1,2,3] [-- overrides]
    python scripts/capacity.py report [--experiment capacity] [--url URL] [--output capacity.png]

``run`` launches ``python train.py -m experiment=capacity`` over every load and seed (any
further Hydra overrides are passed on, e.g. ``hydra/launcher=joblib hydra.launcher.n_jobs=2``)
and then reports. ``report`` rebuilds the table and the figure from the tracking database:
for every alpha, how many runs reached 100 % training accuracy and the median number of
epochs they needed, and where the fraction learned crosses 1/2.
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


def load_of(trial) -> float:
    data = trial.config["data"]
    return round(data["num_samples"] / data["num_afferents"], 6)


def learned(runs: Runs, trial) -> tuple[bool, int | None]:
    """(reached 100 % training accuracy, epochs it took) from the trial's epoch metrics."""
    for row in runs.epoch_metrics(trial.id):
        if row.get("train/acc") == 1.0:
            return True, row["epoch"] + 1
    return False, None


def curve(runs: Runs, experiment: str) -> list[dict]:
    """One row per load: runs, fraction learned, median epochs of the learned runs."""
    _, trials = runs.experiment(experiment)
    outcomes: dict[float, list[tuple[bool, int | None]]] = defaultdict(list)
    for trial in trials:
        if trial.status == "completed":
            outcomes[load_of(trial)].append(learned(runs, trial))
    rows = []
    for alpha in sorted(outcomes):
        results = outcomes[alpha]
        epochs = [epoch for success, epoch in results if success]
        rows.append(
            {
                "alpha": alpha,
                "runs": len(results),
                "learned": len(epochs),
                "fraction_learned": len(epochs) / len(results),
                "median_epochs": statistics.median(epochs) if epochs else None,
            }
        )
    return rows


def half_point(rows: list[dict]) -> float | None:
    """The load where the fraction learned falls through 1/2 (linear between grid points)."""
    for before, after in zip(rows, rows[1:]):
        if before["fraction_learned"] >= 0.5 > after["fraction_learned"]:
            span = before["fraction_learned"] - after["fraction_learned"]
            return before["alpha"] + (before["fraction_learned"] - 0.5) / span * (after["alpha"] - before["alpha"])
    return None


def draw(rows: list[dict], output: Path, title: str) -> None:
    from lif.plots import DPI, FIGURE_SIZE, plt

    figure, (fraction_axis, epochs_axis) = plt.subplots(1, 2, figsize=FIGURE_SIZE, dpi=DPI)
    alphas = [row["alpha"] for row in rows]
    fraction_axis.plot(alphas, [row["fraction_learned"] for row in rows], "o-")
    fraction_axis.axhline(0.5, color="grey", linestyle=":")
    fraction_axis.set(xlabel="load alpha = P / N", ylabel="fraction of runs at 100 %", ylim=(-0.02, 1.02), title="learned perfectly")
    learned_rows = [row for row in rows if row["median_epochs"] is not None]
    epochs_axis.plot([row["alpha"] for row in learned_rows], [row["median_epochs"] for row in learned_rows], "o-")
    epochs_axis.set(xlabel="load alpha = P / N", ylabel="median epochs to 100 %", title="learning time", yscale="log")
    for axis in (fraction_axis, epochs_axis):
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.savefig(output)
    plt.close(figure)


def report(url: str, experiment: str, output: Path) -> list[dict]:
    rows = curve(Runs(url), experiment)
    if not rows:
        raise SystemExit(f"capacity: experiment {experiment!r} has no completed trials")
    table = output.with_suffix(".csv")
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    crossing = half_point(rows)
    draw(rows, output, f"tempotron capacity ({experiment})" + (f": 50 % at alpha = {crossing:.2f}" if crossing else ""))
    print(f"{'alpha':>6} {'runs':>5} {'learned':>8} {'fraction':>9} {'median epochs':>14}")
    for row in rows:
        median = "-" if row["median_epochs"] is None else f"{row['median_epochs']:g}"
        print(f"{row['alpha']:>6g} {row['runs']:>5} {row['learned']:>8} {row['fraction_learned']:>9.2f} {median:>14}")
    print(f"50 % crossing: {'alpha = %.2f' % crossing if crossing else 'not inside the grid'}")
    print(f"wrote {output} and {table}")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--afferents", type=int, default=500, help="N (default: %(default)s)")
    parser.add_argument("--loads", default="0.5,1,1.5,2,2.5,3,3.5", help="alpha values (default: %(default)s)")
    parser.add_argument("--seeds", default="1,2,3", help="repeats per load (default: %(default)s)")
    parser.add_argument("--experiment", default="capacity", help="experiment name (default: %(default)s)")
    parser.add_argument("--url", default=default_url(), help="tracking database (default: %(default)s)")
    parser.add_argument("--output", default="capacity.png", help="figure; the table goes next to it as .csv")
    argv = list(sys.argv[1:] if argv is None else argv)
    overrides = argv[argv.index("--") + 1 :] if "--" in argv else []  # Hydra overrides for `run`
    arguments = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if arguments.command == "run":
        samples = sorted({round(float(alpha) * arguments.afferents) for alpha in arguments.loads.split(",")})
        command = [
            sys.executable, str(ROOT / "train.py"), "-m", "experiment=capacity",
            f"experiment_name={arguments.experiment}", f"tracking.url={arguments.url}",
            f"data.num_afferents={arguments.afferents}", "data.num_samples=" + ",".join(map(str, samples)),
            f"seed={arguments.seeds}", "trainer.enable_progress_bar=false", *overrides,
        ]
        print(" ".join(command), flush=True)
        completed = subprocess.run(command)
        if completed.returncode != 0:
            print(f"capacity: the multirun exited with {completed.returncode}; reporting what was recorded", file=sys.stderr)
    report(arguments.url, arguments.experiment, Path(arguments.output))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
